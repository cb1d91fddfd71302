package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Report is what -o json and -o yaml print.
type Report struct {
	// Scope is the namespace analyzed, or "all namespaces".
	Scope    string    `json:"scope"`
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
	// ExitCode is the code meshctl exits with, so that a pipeline reading
	// the report needs nothing else.
	ExitCode int `json:"exitCode"`
}

// Summary counts findings per level.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

// Summarize counts findings.
func Summarize(fs []Finding) Summary {
	var s Summary
	for _, f := range fs {
		switch f.Level {
		case Error:
			s.Errors++
		case Warning:
			s.Warnings++
		default:
			s.Info++
		}
	}
	return s
}

// WriteText writes one line per finding, with the fix indented below it.
// paint colors the level word; nil leaves it plain.
func WriteText(w io.Writer, fs []Finding, paint func(Level, string) string) error {
	for _, f := range fs {
		lvl := f.Level.String()
		if paint != nil {
			lvl = paint(f.Level, lvl)
		}
		if _, err := fmt.Fprintf(w, "%s [%s] (%s) %s\n", lvl, f.Code, f.ObjectRef(), f.Message); err != nil {
			return err
		}
		if f.Fix != "" {
			if _, err := fmt.Fprintf(w, "    fix: %s\n", f.Fix); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteYAML writes the report as YAML.
func WriteYAML(w io.Writer, r Report) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	b, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	DefaultConfiguration sarifRuleDefaults `json:"defaultConfiguration"`
}

type sarifRuleDefaults struct {
	Level string `json:"level"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool `json:"executionSuccessful"`
	ExitCode            int  `json:"exitCode"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func sarifLevel(l Level) string {
	switch l {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes a SARIF 2.1.0 log. Findings in files point at their
// lines; findings about cluster objects carry the object as a logical
// location.
func WriteSARIF(w io.Writer, r Report, toolVersion string) error {
	rules := All()
	index := map[string]int{}
	driver := sarifDriver{Name: "meshctl", InformationURI: "https://github.com/meshctl/meshctl", Version: toolVersion}
	for i, a := range rules {
		index[a.Code] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID: a.Code, Name: a.Name, ShortDescription: sarifText{a.Doc},
			DefaultConfiguration: sarifRuleDefaults{sarifLevel(a.Level)},
		})
	}
	run := sarifRun{
		Tool:        sarifTool{Driver: driver},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, ExitCode: r.ExitCode}},
		Results:     []sarifResult{},
	}
	for _, f := range r.Findings {
		msg := f.Message
		if f.Fix != "" {
			msg += ". Fix: " + f.Fix
		}
		res := sarifResult{RuleID: f.Code, RuleIndex: index[f.Code], Level: sarifLevel(f.Level), Message: sarifText{msg}}
		loc := sarifLocation{}
		if f.Origin.FromFile() && f.Origin.Path != "-" {
			p := &sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(strings.TrimPrefix(f.Origin.Path, "./"))}}
			if f.Origin.Line > 0 {
				p.Region = &sarifRegion{StartLine: f.Origin.Line}
			}
			loc.PhysicalLocation = p
		}
		if f.Object.Name != "" {
			loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: f.Object.String(), Kind: "resource"}}
		}
		if loc.PhysicalLocation != nil || loc.LogicalLocations != nil {
			res.Locations = []sarifLocation{loc}
		}
		run.Results = append(run.Results, res)
	}
	b, err := json.MarshalIndent(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
