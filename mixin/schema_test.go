package mixin_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// TestDashboardsDecodeStrictly decodes every rendered dashboard against Grafana's current
// dashboard schema (grafana-foundation-sdk, generated from it), panels' options and field
// config and Prometheus queries included: a field the schema does not have, or of the wrong
// type, is an error, as Grafana would drop or reject it.
func TestDashboardsDecodeStrictly(t *testing.T) {
	rt := cog.NewRuntime()
	rt.RegisterPanelcfgVariant(timeseries.VariantConfig())
	rt.RegisterPanelcfgVariant(heatmap.VariantConfig())
	rt.RegisterPanelcfgVariant(table.VariantConfig())
	rt.RegisterDataqueryVariant(prometheus.VariantConfig())
	paths, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rendered dashboards in ../dashboards (run make generate): %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// The classic dashboard JSON model (what Grafana imports and provisions from files);
		// the SDK marks it deprecated in favour of its v2 resource, a different document.
		//lint:ignore SA1019 the dashboards are classic dashboard JSON, not v2 resources
		var d grafana.Dashboard
		if err := noBuildErrors(d.UnmarshalJSONStrict(b)); err != nil {
			t.Errorf("%s does not decode strictly against the dashboard schema: %v", filepath.Base(p), err)
			continue
		}
		if len(d.Panels) == 0 {
			t.Errorf("%s: no panels decoded", filepath.Base(p))
		}
	}
}

// noBuildErrors is err, or nil for an empty cog.BuildErrors: the SDK returns its error list as
// an error even when the list is empty (a nil slice in a non-nil interface).
func noBuildErrors(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}
