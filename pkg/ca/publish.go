package ca

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// RootPublisher keeps the trust bundle in a ConfigMap of every namespace,
// the one injected pods mount: it is created when a namespace appears and
// put back when someone edits or deletes it.
type RootPublisher struct {
	Client kubernetes.Interface
	CA     *Authority
	// ConfigMap is the name of the ConfigMap (inject.Config.RootCertConfigMap).
	ConfigMap string
	// OnError hears about failed writes (they are retried); may be nil.
	OnError func(namespace string, err error)
}

// Run publishes until ctx ends.
func (p *RootPublisher) Run(ctx context.Context) error {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer q.ShutDown()

	// Informers of the two kinds alone: through client-go's informer
	// factory the binary carried an informer and a lister of every built-in
	// API (14 MB of the 118 MB binary).
	nsInf := coreinformers.NewNamespaceInformer(p.Client, resyncPeriod, cache.Indexers{})
	cmInf := coreinformers.NewFilteredConfigMapInformer(p.Client, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.ConfigMap).String()
		})
	nsLister := listerscorev1.NewNamespaceLister(nsInf.GetIndexer())
	cmLister := listerscorev1.NewConfigMapLister(cmInf.GetIndexer())

	enqueueNS := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(metav1.Object); ok {
			ns := o.GetNamespace()
			if _, isNS := obj.(*corev1.Namespace); isNS {
				ns = o.GetName()
			}
			q.Add(ns)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueueNS, UpdateFunc: func(_, n any) { enqueueNS(n) }, DeleteFunc: enqueueNS}
	if _, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueueNS, UpdateFunc: func(_, n any) { enqueueNS(n) }}); err != nil {
		return err
	}
	if _, err := cmInf.AddEventHandler(handler); err != nil {
		return err
	}
	var running sync.WaitGroup
	defer running.Wait()
	running.Go(func() { nsInf.Run(ctx.Done()) })
	running.Go(func() { cmInf.Run(ctx.Done()) })
	if !cache.WaitForCacheSync(ctx.Done(), nsInf.HasSynced, cmInf.HasSynced) {
		return ctx.Err()
	}

	// A new root goes to every namespace.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.CA.Changed():
				nss, _ := nsLister.List(labels.Everything())
				for _, n := range nss {
					q.Add(n.Name)
				}
			}
		}
	}()
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		ns, shutdown := q.Get()
		if shutdown {
			return nil
		}
		err := p.sync(ctx, ns, nsLister, cmLister)
		if err != nil && ctx.Err() == nil {
			if p.OnError != nil {
				p.OnError(ns, err)
			}
			q.AddRateLimited(ns)
		} else {
			q.Forget(ns)
		}
		q.Done(ns)
	}
}

func (p *RootPublisher) sync(ctx context.Context, ns string, nsl listerscorev1.NamespaceLister, cml listerscorev1.ConfigMapLister) error {
	n, err := nsl.Get(ns)
	if apierrors.IsNotFound(err) || (err == nil && n.Status.Phase == corev1.NamespaceTerminating) {
		return nil
	}
	if err != nil {
		return err
	}
	b := p.CA.Bundle()
	if b == nil {
		return nil
	}
	want := string(b.RootsPEM())
	cms := p.Client.CoreV1().ConfigMaps(ns)
	cm, err := cml.ConfigMaps(ns).Get(p.ConfigMap)
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: p.ConfigMap, Namespace: ns, Labels: map[string]string{LabelRootConfigMap: "true"}},
			Data:       map[string]string{RootConfigMapKey: want},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // the informer brings it, and a resync if it differs
		}
		return err
	}
	if err != nil {
		return err
	}
	if cm.Data[RootConfigMapKey] == want && len(cm.Data) == 1 && len(cm.BinaryData) == 0 {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data, cm.BinaryData = map[string]string{RootConfigMapKey: want}, nil
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[LabelRootConfigMap] = "true"
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// resyncPeriod bounds how long a missed event could leave a namespace stale
// (a resync only reads the informer's cache unless something differs).
const resyncPeriod = 10 * time.Minute
