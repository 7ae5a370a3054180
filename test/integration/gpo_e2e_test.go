package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
)

// apply does what `kubectl apply --server-side -f` does with a manifest.
func apply(t *testing.T, manifest string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

func gpoManifest(name string, age int, target string) string {
	return fmt.Sprintf(`apiVersion: laps.fleetlaps.io/v1
kind: LapsPolicy
metadata: {name: %s, namespace: %s}
spec:
  backupDirectory: ActiveDirectory
  directoryRef: {name: corp}
  deviceSelector: {matchLabels: {gpo-test: "none"}}
  passwordAgeDays: %d
  groupPolicy:
    links: [{target: "%s"}]
`, name, namespace, age, target)
}

func publishedGPO(p *lapsv1.LapsPolicy) (lapsv1.PublishedPolicy, bool) {
	for _, pub := range p.Status.Published {
		if pub.Kind == controllers.PublishedGroupPolicyObject {
			return pub, true
		}
	}
	return lapsv1.PublishedPolicy{}, false
}

func getPolicy(t *testing.T, name string) *lapsv1.LapsPolicy {
	t.Helper()
	p := &lapsv1.LapsPolicy{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// highestUSN is the DC's highestCommittedUSN: unchanged means nothing was written to AD.
func highestUSN(t *testing.T) string {
	t.Helper()
	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"highestCommittedUSN"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValue("highestCommittedUSN")
}

func gpoFixture(t *testing.T) (workstations string) {
	t.Helper()
	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	workstations = "OU=GPO-Workstations,OU=Linked," + srv.Base
	for _, ou := range []string{workstations, "OU=TenantB," + srv.Base} {
		a := ldap.NewAddRequest(ou, nil)
		a.Attribute("objectClass", []string{"organizationalUnit"})
		if err := conn.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	a := ldap.NewAddRequest("CN=gpo-ws1,"+workstations, nil)
	a.Attribute("objectClass", []string{"computer"})
	a.Attribute("sAMAccountName", []string{"gpo-ws1$"})
	a.Attribute("userAccountControl", []string{"4096"})
	if err := conn.Add(a); err != nil {
		t.Fatal(err)
	}
	return workstations
}

// TestGroupPolicy_FromManifestThroughTheControllers: a LapsPolicy applied as a manifest becomes a
// linked GPO that samba-tool sees; an update bumps its version; a link removed by hand is found
// (GPODrift, event) and restored; deleting the policy unlinks and deletes the GPO; a link target
// outside the connection's search bases is refused without any write.
func TestGroupPolicy_FromManifestThroughTheControllers(t *testing.T) {
	ctx := context.Background()
	ws := gpoFixture(t)
	apply(t, gpoManifest("gpo-workstations", 30, ws))

	var guid string
	eventually(t, "GPO published", func() error {
		p := getPolicy(t, "gpo-workstations")
		pub, ok := publishedGPO(p)
		if !ok || pub.Version != 1 {
			return fmt.Errorf("published %+v, conditions %+v", p.Status.Published, p.Status.Conditions)
		}
		guid = pub.Ref
		return conditionIs(p.Status.Conditions, lapsv1.ConditionPolicyPushed, metav1.ConditionTrue)
	})
	show, err := srv.SambaTool("gpo", "show", guid)
	if err != nil || !strings.Contains(show, "display name : fleetlaps fleet/gpo-workstations") || !strings.Contains(show, "version      : 1") {
		t.Fatalf("gpo show: %v\n%s", err, show)
	}
	if l, err := srv.SambaTool("gpo", "list", "gpo-ws1$"); err != nil || !strings.Contains(l, "fleetlaps fleet/gpo-workstations") {
		t.Fatalf("gpo list gpo-ws1$: %v\n%s", err, l)
	}
	if p := getPolicy(t, "gpo-workstations"); p.Spec.PolicyRoot != "" || apimeta.FindStatusCondition(p.Status.Conditions, lapsv1.ConditionGPODrift) == nil {
		t.Errorf("policyRoot %q was defaulted by the schema, or GPODrift missing: %+v", p.Spec.PolicyRoot, p.Status.Conditions)
	}

	// Idle: the controller compares the GPO every resync (2s here) and writes nothing to AD
	// (highestCommittedUSN unchanged) nor to SYSVOL (GPT.INI's version unchanged).
	usn := highestUSN(t)
	time.Sleep(5 * time.Second)
	if after := highestUSN(t); after != usn {
		t.Errorf("highestCommittedUSN moved from %s to %s while the policy was idle", usn, after)
	}
	if pub, _ := publishedGPO(getPolicy(t, "gpo-workstations")); pub.Version != 1 {
		t.Errorf("idle resyncs changed the version: %+v", pub)
	}

	apply(t, gpoManifest("gpo-workstations", 21, ws))
	eventually(t, "version bumped by the update", func() error {
		pub, _ := publishedGPO(getPolicy(t, "gpo-workstations"))
		if pub.Version != 2 {
			return fmt.Errorf("published %+v", pub)
		}
		return nil
	})

	if _, err := srv.SambaTool("gpo", "dellink", ws, guid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hand-removed link restored and reported", func() error {
		p := getPolicy(t, "gpo-workstations")
		c := apimeta.FindStatusCondition(p.Status.Conditions, lapsv1.ConditionGPODrift)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "link on "+ws+" is missing") {
			return fmt.Errorf("GPODrift %+v", c)
		}
		g, err := srv.SambaTool("gpo", "getlink", ws)
		if err != nil || !strings.Contains(g, guid) {
			return fmt.Errorf("getlink: %v %s", err, g)
		}
		var evs eventsv1.EventList
		if err := k8s.List(ctx, &evs, client.InNamespace(namespace)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "GPODriftRestored" && e.Regarding.Name == "gpo-workstations" {
				return nil
			}
		}
		return fmt.Errorf("no GPODriftRestored event")
	})

	t.Run("should refuse a link target outside the search bases and create nothing", func(t *testing.T) {
		before, err := srv.SambaTool("gpo", "listall")
		if err != nil {
			t.Fatal(err)
		}
		apply(t, gpoManifest("gpo-tenant-b", 30, "OU=TenantB,"+srv.Base))
		eventually(t, "LinkTargetOutOfScope", func() error {
			p := getPolicy(t, "gpo-tenant-b")
			c := apimeta.FindStatusCondition(p.Status.Conditions, lapsv1.ConditionPolicyPushed)
			if c == nil || c.Reason != controllers.ReasonLinkTargetOutOfScope {
				return fmt.Errorf("PolicyPushed %+v", c)
			}
			return conditionIs(p.Status.Conditions, "Stalled", metav1.ConditionTrue)
		})
		if after, _ := srv.SambaTool("gpo", "listall"); after != before {
			t.Errorf("a GPO was created for an out-of-scope target")
		}
		if err := k8s.Delete(ctx, getPolicy(t, "gpo-tenant-b")); err != nil {
			t.Fatal(err)
		}
	})

	if err := k8s.Delete(ctx, getPolicy(t, "gpo-workstations")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "GPO withdrawn and policy gone", func() error {
		var p lapsv1.LapsPolicy
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "gpo-workstations"}, &p); err == nil {
			return fmt.Errorf("policy still there (finalizers %v)", p.Finalizers)
		}
		l, err := srv.SambaTool("gpo", "listall")
		if err != nil || strings.Contains(l, guid) {
			return fmt.Errorf("GPO %s still listed: %v", guid, err)
		}
		return nil
	})
}
