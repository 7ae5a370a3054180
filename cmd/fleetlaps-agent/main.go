// Command fleetlaps-agent reports what Windows LAPS on this device applied and logged to the
// fleetlaps report API, with the device's enrollment token (kubectl laps enroll). On Windows it
// reads the LAPS policy and state registry values, the OS build, the boot mode and the
// Microsoft-Windows-LAPS/Operational channel, and runs as a Windows service or once
// (--once). --simulate plays a simulated Windows LAPS client instead, on any OS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/agent"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// serviceName is the Windows service the agent runs as.
const serviceName = "fleetlaps-agent"

// Config is the agent's configuration file (YAML or JSON).
type Config struct {
	// ServerURL of the report API, e.g. https://fleetlaps-report.example.com:9444.
	ServerURL string `json:"serverURL"`
	// CAFile holds the CA certificate(s) the server's certificate must chain to.
	CAFile string `json:"caFile"`
	// TokenFile holds the device's enrollment token (it names the device too).
	TokenFile string `json:"tokenFile"`
	// Interval between reports when nothing changes (default 1h); PollInterval between looks
	// for changes, which are reported at once (default 5m).
	Interval     Duration `json:"interval,omitempty"`
	PollInterval Duration `json:"pollInterval,omitempty"`
	// LocalConfigurationFile, when set, is an agent local configuration document (kubectl laps
	// render --format agent) that the agent writes into the LocalConfiguration root before each
	// report.
	LocalConfigurationFile string `json:"localConfigurationFile,omitempty"`
}

// Duration reads "1h", "5m".
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("duration %q: expected a positive Go duration such as 1h or 5m", s)
	}
	d.Duration = v
	return nil
}

// loadConfig reads the configuration file and the files it names. Errors name files, never
// their contents: the token appears in no message.
func loadConfig(path string) (Config, []byte, string, error) {
	var c Config
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, nil, "", fmt.Errorf("reading the configuration: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return c, nil, "", fmt.Errorf("configuration %s: %w", path, err)
	}
	switch {
	case !strings.HasPrefix(c.ServerURL, "https://"):
		return c, nil, "", fmt.Errorf("configuration %s: serverURL %q must be an https:// URL", path, c.ServerURL)
	case c.CAFile == "":
		return c, nil, "", fmt.Errorf("configuration %s: caFile is required", path)
	case c.TokenFile == "":
		return c, nil, "", fmt.Errorf("configuration %s: tokenFile is required", path)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return c, nil, "", fmt.Errorf("reading caFile: %w", err)
	}
	tok, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return c, nil, "", fmt.Errorf("reading tokenFile: %w", err)
	}
	return c, ca, strings.TrimSpace(string(tok)), nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	config   string
	once     bool
	simulate bool
	verbose  bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetlaps-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.config, "config", defaultConfigPath(), "Configuration file (serverURL, caFile, tokenFile, ...).")
	fs.BoolVar(&o.once, "once", false, "Send one report and exit (exit code 1 when it is refused).")
	fs.BoolVar(&o.simulate, "simulate", false, "Play a simulated Windows LAPS client instead of reading this device (any OS).")
	fs.BoolVar(&o.verbose, "v", false, "Log every report.")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	stdr.SetVerbosity(0)
	if o.verbose {
		stdr.SetVerbosity(1)
	}
	log := stdr.New(newLogger(stderr))
	if err := start(o, log, stdout); err != nil {
		fmt.Fprintln(stderr, "fleetlaps-agent:", err)
		return 1
	}
	return 0
}

// start builds the agent and runs it once, as a Windows service, or in the foreground.
func start(o options, log logr.Logger, stdout io.Writer) error {
	cfg, ca, tok, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	dev, err := report.ParseToken(tok)
	if err != nil {
		return fmt.Errorf("tokenFile %s: %w", cfg.TokenFile, err)
	}
	client, err := report.NewClient(cfg.ServerURL, ca, tok)
	if err != nil {
		return fmt.Errorf("caFile %s: %w", cfg.CAFile, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var src agent.Source
	if o.simulate {
		sim, err := newSimulation(dev)
		if err != nil {
			return err
		}
		go sim.run(ctx)
		src = sim.source
	} else {
		if src, err = agent.NewWindows(); err != nil {
			return err
		}
		if cfg.LocalConfigurationFile != "" {
			src = &localConfigWriter{file: cfg.LocalConfigurationFile, next: src}
		}
	}
	a := &agent.Agent{Device: dev, Source: src, Client: client, Clock: clock.RealClock{},
		Interval: cfg.Interval.Duration, PollEvery: cfg.PollInterval.Duration, Log: log}
	if o.once {
		resp, err := a.Once(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report for %s accepted (status written: %v)\n", dev, resp.Written)
		return nil
	}
	if svc, err := isWindowsService(); err == nil && svc {
		return runService(serviceName, a.Run)
	}
	log.Info("reporting", "device", dev.String(), "server", cfg.ServerURL)
	return a.Run(ctx)
}

// localConfigWriter writes the LocalConfiguration document before each collection, so the
// report shows the policy it applied.
type localConfigWriter struct {
	file string
	next agent.Source
}

func (l *localConfigWriter) Collect(ctx context.Context) (agent.State, error) {
	doc, err := os.ReadFile(l.file)
	if err != nil {
		return agent.State{}, fmt.Errorf("localConfigurationFile: %w", err)
	}
	if err := agent.ApplyLocalConfiguration(doc); err != nil && !errors.Is(err, context.Canceled) {
		return agent.State{}, fmt.Errorf("writing the local configuration: %w", err)
	}
	return l.next.Collect(ctx)
}
