package analyze

import "sort"

// All returns every analyzer, sorted by code. Codes are stable: a retired
// analyzer's code is never reused.
func All() []*Analyzer {
	var out []*Analyzer
	for _, group := range [][]*Analyzer{generalAnalyzers, routingAnalyzers, gatewayAnalyzers, destinationRuleAnalyzers,
		securityAnalyzers, sidecarAnalyzers, serviceAnalyzers, injectionAnalyzers, serviceEntryAnalyzers, gatewayAPIAnalyzers} {
		out = append(out, group...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// ByCode returns the analyzer with code, or nil.
func ByCode(code string) *Analyzer {
	for _, a := range All() {
		if a.Code == code {
			return a
		}
	}
	return nil
}
