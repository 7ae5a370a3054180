package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// console is the demo's terminal. Headless runs and runs whose output is not a terminal get
// plain lines: progress and scripted incidents as they happen. An interactive run on a terminal
// gets a status view that redraws in place: the progress, the scripted incidents (planned and
// happened), the commands to try and where the manager's logs go (a file: its JSON lines would
// bury the view).
type console struct {
	mu   sync.Mutex
	out  io.Writer
	live bool // redraw in place (ANSI cursor movement)

	title     string
	try       []string // commands to try, one a line
	footer    string
	incidents []incident
	others    []string // unplanned events (automation failures), newest last
	progress  string
	drawn     bool
}

// incident is a scripted event: planned at a simulated time, and what happened when it ran.
type incident struct {
	key, when, what string
	happened        string
}

// maxOthers bounds the unplanned events the view keeps.
const maxOthers = 5

func newConsole(out io.Writer, live bool) *console { return &console{out: out, live: live} }

// printf writes a start-up line. In the live view it is shown until the first redraw.
func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// plan announces a scripted incident at simulated time when.
func (c *console) plan(key, when, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.incidents = append(c.incidents, incident{key: key, when: when, what: what})
	// In time order: the times print as 2006-01-02T15:04Z, which sorts as text.
	slices.SortStableFunc(c.incidents, func(a, b incident) int { return strings.Compare(a.when, b.when) })
}

// happened records that a scripted incident (or an unplanned event, key "") ran. Plain output
// prints it at once.
func (c *console) happened(key, simNow, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf("[sim %s] %s", simNow, text)
	if !c.live {
		fmt.Fprintf(c.out, ">> %s\n", line)
	}
	for i := range c.incidents {
		if c.incidents[i].key == key && key != "" {
			c.incidents[i].happened = line
			return
		}
	}
	c.others = append(c.others, line)
	if len(c.others) > maxOthers {
		c.others = c.others[len(c.others)-maxOthers:]
	}
}

// setView sets the fixed parts of the live view.
func (c *console) setView(title string, try []string, footer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.title, c.try, c.footer = title, try, footer
}

// update shows the progress: the live view redraws, plain output prints one line.
func (c *console) update(progress string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.progress = progress
	if !c.live {
		fmt.Fprintf(c.out, ">> %s\n", progress)
		return
	}
	var b strings.Builder
	if !c.drawn {
		b.WriteString("\x1b[H\x1b[2J") // home, clear the screen once
		c.drawn = true
	} else {
		b.WriteString("\x1b[H")
	}
	for _, l := range c.view() {
		b.WriteString(l)
		b.WriteString("\x1b[K\n") // clear what a longer previous line left
	}
	b.WriteString("\x1b[J") // and below
	_, _ = io.WriteString(c.out, b.String())
}

// view is the live view's lines.
func (c *console) view() []string {
	lines := []string{c.title, ""}
	lines = append(lines, wrapFields(c.progress, " | ", 4, "  ")...)
	lines = append(lines, "", "Scripted incidents")
	for _, in := range c.incidents {
		if in.happened != "" {
			lines = append(lines, "  done  "+in.happened)
		} else {
			lines = append(lines, "  at    "+in.when+": "+in.what)
		}
	}
	for _, o := range c.others {
		lines = append(lines, "  note  "+o)
	}
	if len(c.try) > 0 {
		lines = append(lines, "", "Try in another shell")
		for _, t := range c.try {
			lines = append(lines, "  "+t)
		}
	}
	if c.footer != "" {
		lines = append(lines, "", c.footer)
	}
	return lines
}

// wrapFields puts the sep-separated fields of s n to a line.
func wrapFields(s, sep string, n int, indent string) []string {
	fields := strings.Split(s, sep)
	var out []string
	for len(fields) > 0 {
		k := min(n, len(fields))
		out = append(out, indent+strings.Join(fields[:k], sep))
		fields = fields[k:]
	}
	return out
}

// finish leaves the live view: the cursor goes below it, so what follows (clean-up, summary)
// scrolls normally.
func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.drawn {
		_, _ = io.WriteString(c.out, "\n")
	}
	c.live = false
}

// showTryView sets the interactive view's commands to try (and prints them once when the output
// is plain).
func showTryView(con *console, o options, kubeconfig string) {
	path := o.assets
	plugin := filepath.Join(o.workDir, "bin")
	if _, err := os.Stat(filepath.Join(plugin, "kubectl-laps")); err == nil {
		if abs, err := filepath.Abs(plugin); err == nil {
			path += ":" + abs
		}
	}
	ns := demoNamespace
	try := []string{
		fmt.Sprintf("export KUBECONFIG=%s PATH=%s:$PATH", kubeconfig, path),
		"kubectl laps status -n " + ns + "                  (fleet per policy; add a device name for detail)",
		"kubectl get lapspolicies,manageddevices,rotationrequests -n " + ns,
		"kubectl laps explain -n " + ns + " ws-0003          (why a device has its policy)",
		"kubectl laps rotate -n " + ns + " ws-0003 --reason 'try it' --wait",
		fmt.Sprintf("kubectl annotate manageddevice -n %s ws-0004 %s=\"$(date -u +%%FT%%TZ)\"", ns, lapsv1.AnnotationRotateRequestedAt),
		"kubectl laps render -f config/samples/laps_v1_lapspolicy.yaml",
	}
	title := fmt.Sprintf("fleetlaps demo: %s, speed x%g (a simulated day every %s)", ns, o.speed, (24 * time.Hour / time.Duration(o.speed)).Round(time.Second))
	con.setView(title, try, quitHint(o))
	if !con.live {
		con.printf("\nfleetlaps demo is running. In another shell:\n\n")
		for _, t := range try {
			con.printf("  %s\n", t)
		}
		con.printf("\n%s\n\n", quitHint(o))
	}
}

// quitHint says how to stop and where the manager's logs are.
func quitHint(o options) string {
	stop := "Ctrl-C stops everything."
	if o.terminal {
		stop = "q or Ctrl-C stops everything and cleans up."
	}
	if o.logFile != "" {
		return "Manager logs: " + o.logFile + " (tail -f it).  " + stop
	}
	return stop
}

// openLog opens DIR/manager.log (truncated) and returns a JSON logger writing to it. main makes
// it the logger of controller-runtime and client-go in interactive runs.
func openLog(dir string) (string, logr.Logger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", logr.Discard(), err
	}
	path := filepath.Join(dir, "manager.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", logr.Discard(), fmt.Errorf("opening the manager log: %w", err)
	}
	return path, zap.New(zap.UseDevMode(false), zap.WriteTo(f)), nil
}
