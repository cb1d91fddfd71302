package kubeinject

import (
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/inject"
)

func yamlOf(cfg inject.Config) (string, error) {
	b, err := yaml.Marshal(cfg)
	return string(b), err
}
