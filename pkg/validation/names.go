package validation

import "k8s.io/apimachinery/pkg/util/validation"

// Each object of an analyze run has its name, namespace, hosts and subsets
// checked, and apimachinery checks each with a regular expression: tens of
// thousands of matches for a thousand services. The byte loops below say
// yes for exactly the strings those expressions accept (TestNameChecks
// compares them on every string of a small alphabet), so the regular
// expressions and their messages are only reached by names that are wrong.

// dns1123Label is validation.IsDNS1123Label.
func dns1123Label(s string) []string {
	if len(s) <= validation.DNS1123LabelMaxLength && isLabel(s, false) {
		return nil
	}
	return validation.IsDNS1123Label(s)
}

// dns1123Subdomain is validation.IsDNS1123Subdomain.
func dns1123Subdomain(s string) []string {
	if len(s) <= validation.DNS1123SubdomainMaxLength && isSubdomain(s) {
		return nil
	}
	return validation.IsDNS1123Subdomain(s)
}

// isLabel matches [a-z0-9]([-a-z0-9]*[a-z0-9])?, with dots allowed inside
// when dots is true.
func isLabel(s string, dots bool) bool {
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && (!dots || c != '.') {
			return false
		}
	}
	return true
}

// isSubdomain matches labels joined by single dots.
func isSubdomain(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if !isLabel(s[start:i], false) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isGatewayRef is gatewayRef.MatchString: an optional "namespace/" (a
// label) before a name of labels and dots.
func isGatewayRef(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return isLabel(s[:i], false) && isLabel(s[i+1:], true)
		}
	}
	return isLabel(s, true)
}

// qualifiedName is validation.IsQualifiedName (a label key: an optional
// DNS subdomain and "/" before a name).
func qualifiedName(s string) []string {
	name := s
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			if i > validation.DNS1123SubdomainMaxLength || !isSubdomain(s[:i]) {
				return validation.IsQualifiedName(s)
			}
			name = s[i+1:]
			break
		}
	}
	if len(name) > 63 || !isLabelName(name) {
		return validation.IsQualifiedName(s)
	}
	return nil
}

// labelValue is validation.IsValidLabelValue.
func labelValue(s string) []string {
	if len(s) <= validation.LabelValueMaxLength && (s == "" || isLabelName(s)) {
		return nil
	}
	return validation.IsValidLabelValue(s)
}

// isLabelName matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
func isLabelName(s string) bool {
	an := func(c byte) bool { return alnum(c) || c >= 'A' && c <= 'Z' }
	if s == "" || !an(s[0]) || !an(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !an(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}
