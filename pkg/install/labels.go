package install

import "github.com/meshctl/meshctl/pkg/vocab"

// Addon describes how to reach an addon's web UI once installed.
type Addon struct {
	Component string // value of vocab.LabelComponent on its pods
	Port      int    // container port of the UI
	Path      string // path of the UI's landing page
}

// Addons lists the addons with a web UI, by component name.
var Addons = map[string]Addon{
	vocab.ComponentGrafana:    {Component: vocab.ComponentGrafana, Port: 3000, Path: "/"},
	vocab.ComponentPrometheus: {Component: vocab.ComponentPrometheus, Port: 9090, Path: "/"},
	vocab.ComponentJaeger:     {Component: vocab.ComponentJaeger, Port: 16686, Path: "/"},
	vocab.ComponentKiali:      {Component: vocab.ComponentKiali, Port: 20001, Path: "/kiali"},
	vocab.ComponentZipkin:     {Component: vocab.ComponentZipkin, Port: 9411, Path: "/zipkin"},
}
