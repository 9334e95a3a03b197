package semvec

import "testing"

func TestParseTierASCIIOnly(t *testing.T) {
	accept := map[string]Tier{
		"":                TierCommunity,
		"community":       TierCommunity,
		"COMMUNITY":       TierCommunity,
		"pro":             TierPro,
		"PRO":             TierPro,
		"Pro":             TierPro,
		" pro\t":          TierPro,
		"enterprise":      TierEnterprise,
		"ENTERPRISE":      TierEnterprise,
		"EnTeRpRiSe":      TierEnterprise,
		"\r\nenterprise ": TierEnterprise,
	}
	for in, want := range accept {
		got, err := ParseTier(in)
		if err != nil || got != want {
			t.Errorf("ParseTier(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	refuse := []string{
		"ENTERPRİSE",      // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE: strings.ToLower gives "i"
		"enterpr\u0130se", // the same, spelled out
		"enterpriſe",      // U+017F LATIN SMALL LETTER LONG S: EqualFold matches "s"
		"ENTERPRIſE",      // long s among capitals
		"communıty",       // U+0131 dotless i
		"\u212Aommunity",  // KELVIN SIGN folds to k (no tier has a k, but nothing non-ASCII may fold)
		"pro\u200b",       // zero-width space
		"\u00a0pro",       // no-break space is not ASCII whitespace
		"pro\u3000",       // ideographic space
		"ｐｒｏ",             // fullwidth letters
		"PRO\u0301",       // combining mark
		"enterprise\x00",  // NUL
		"gold",
		"pro community",
	}
	for _, in := range refuse {
		if got, err := ParseTier(in); err == nil {
			t.Errorf("ParseTier(%q) = %q, want an unknown-tier error", in, got)
		}
	}
}

func TestASCIILowerNoAllocForLowercase(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTier("enterprise") }); n != 0 {
		t.Fatalf("ParseTier of a lowercase tier allocates %v times", n)
	}
}
