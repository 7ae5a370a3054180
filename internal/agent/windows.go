//go:build windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// Windows is the Source of a real device: registry values and the LAPS event channel.
type Windows struct {
	// MaxEvents is how many of the newest channel events are read (default 64).
	MaxEvents int
}

// NewWindows returns the Windows Source.
func NewWindows() (Source, error) { return &Windows{MaxEvents: 64}, nil }

// Collect reads the OS build, boot mode, policy roots, local state and recent events.
func (w *Windows) Collect(ctx context.Context) (State, error) {
	var st State
	cv, err := readValues(`SOFTWARE\Microsoft\Windows NT\CurrentVersion`)
	if err != nil {
		return st, fmt.Errorf("reading the OS version: %w", err)
	}
	var major, minor, ubr uint32
	var build string
	for _, v := range cv {
		switch v.Name {
		case "CurrentMajorVersionNumber":
			major = v.DWord
		case "CurrentMinorVersionNumber":
			minor = v.DWord
		case "CurrentBuildNumber":
			build = v.SZ
		case "UBR":
			ubr = v.DWord
		}
	}
	if st.OSBuild, err = FormatOSBuild(major, minor, build, ubr); err != nil {
		return st, err
	}
	ctl, err := readValues(`SYSTEM\CurrentControlSet\Control`)
	if err != nil {
		return st, fmt.Errorf("reading the boot options: %w", err)
	}
	st.BootMode = "Normal"
	for _, v := range ctl {
		if v.Name == "SystemStartOptions" {
			st.BootMode = ParseBootMode(v.SZ)
		}
	}
	roots := map[string][]RawValue{}
	for _, r := range PolicyRoots {
		vals, err := readValues(r.Key)
		if err != nil && !errors.Is(err, registry.ErrNotExist) {
			return st, fmt.Errorf("reading policy root %s: %w", r.Name, err)
		}
		roots[r.Name] = vals
	}
	st.ActiveRoot, st.AppliedValues = ActiveRoot(roots)
	if vals, err := readValues(LocalStateKey); err == nil {
		st.LocalPasswordVersion, st.LocalExpirationTime = ParseLocalState(vals)
	}
	st.Events, err = readEvents(w.MaxEvents)
	if err != nil {
		return st, fmt.Errorf("reading Microsoft-Windows-LAPS/Operational: %w", err)
	}
	return st, nil
}

// readValues reads every value of HKLM\key (none when the key does not exist).
func readValues(key string) ([]RawValue, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil, err
	}
	out := make([]RawValue, 0, len(names))
	for _, n := range names {
		_, typ, err := k.GetValue(n, nil)
		if err != nil {
			continue
		}
		v := RawValue{Name: n, Type: typ}
		switch typ {
		case registry.SZ, registry.EXPAND_SZ:
			v.SZ, _, err = k.GetStringValue(n)
			v.Type = render.RegSZ
		case registry.DWORD:
			var x uint64
			x, _, err = k.GetIntegerValue(n)
			v.DWord = uint32(x)
		case registry.QWORD:
			v.QWord, _, err = k.GetIntegerValue(n)
		case registry.BINARY:
			v.Binary, _, err = k.GetBinaryValue(n)
		default:
			continue
		}
		if err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// ApplyLocalConfiguration writes an agent local configuration document into its key, so the
// key holds exactly the policy (the LocalConfiguration root).
func ApplyLocalConfiguration(doc []byte) error {
	key := render.LocalConfigurationKey
	if strings.Contains(string(doc), strings.ReplaceAll(render.LegacyLAPSKey, `\`, `\\`)) {
		key = render.LegacyLAPSKey
	}
	existing, err := readValues(key)
	if err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	key, set, remove, err := PlanLocalConfiguration(doc, existing)
	if err != nil {
		return err
	}
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE|registry.QUERY_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	for _, v := range set {
		if v.Type == render.RegSZ {
			err = k.SetStringValue(v.Name, v.SZ)
		} else {
			err = k.SetDWordValue(v.Name, v.DWord)
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", v.Name, err)
		}
	}
	for _, n := range remove {
		if err := k.DeleteValue(n); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("deleting %s: %w", n, err)
		}
	}
	return nil
}

// The Windows Event Log API (wevtapi.dll); x/sys/windows has no wrappers for it.
var (
	wevtapi                      = windows.NewLazySystemDLL("wevtapi.dll")
	procEvtQuery                 = wevtapi.NewProc("EvtQuery")
	procEvtNext                  = wevtapi.NewProc("EvtNext")
	procEvtRender                = wevtapi.NewProc("EvtRender")
	procEvtClose                 = wevtapi.NewProc("EvtClose")
	procEvtOpenPublisherMetadata = wevtapi.NewProc("EvtOpenPublisherMetadata")
	procEvtFormatMessage         = wevtapi.NewProc("EvtFormatMessage")
)

const (
	lapsChannel              = "Microsoft-Windows-LAPS/Operational"
	lapsPublisher            = "Microsoft-Windows-LAPS"
	evtQueryChannelPath      = 0x1
	evtQueryReverseDirection = 0x200
	evtRenderEventXML        = 1
	evtFormatMessageXML      = 9
)

// readEvents reads the newest max events of the LAPS channel, with their messages.
func readEvents(max int) ([]report.Event, error) {
	path, _ := windows.UTF16PtrFromString(lapsChannel)
	query, _ := windows.UTF16PtrFromString("*")
	rs, _, err := procEvtQuery.Call(0, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(query)), evtQueryChannelPath|evtQueryReverseDirection)
	if rs == 0 {
		return nil, err
	}
	defer procEvtClose.Call(rs)
	pub, _ := windows.UTF16PtrFromString(lapsPublisher)
	meta, _, _ := procEvtOpenPublisherMetadata.Call(0, uintptr(unsafe.Pointer(pub)), 0, 0, 0)
	if meta != 0 {
		defer procEvtClose.Call(meta)
	}
	var out []report.Event
	handles := make([]uintptr, 16)
	for len(out) < max {
		var n uint32
		ok, _, err := procEvtNext.Call(rs, uintptr(len(handles)), uintptr(unsafe.Pointer(&handles[0])), 1000, 0, uintptr(unsafe.Pointer(&n)))
		if ok == 0 {
			if errors.Is(err, windows.ERROR_NO_MORE_ITEMS) {
				break
			}
			return out, err
		}
		for _, h := range handles[:n] {
			if x, err := eventXMLOf(meta, h); err == nil {
				if e, err := ParseEventXML(x); err == nil && len(out) < max {
					out = append(out, e)
				}
			}
			procEvtClose.Call(h)
		}
	}
	return out, nil
}

// eventXMLOf renders an event as XML, with its formatted message when the publisher's
// metadata is available.
func eventXMLOf(meta, h uintptr) ([]byte, error) {
	if meta != 0 {
		var used uint32
		procEvtFormatMessage.Call(meta, h, 0, 0, 0, evtFormatMessageXML, 0, 0, uintptr(unsafe.Pointer(&used)))
		if used > 0 {
			buf := make([]uint16, used)
			ok, _, _ := procEvtFormatMessage.Call(meta, h, 0, 0, 0, evtFormatMessageXML, uintptr(used), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&used)))
			if ok != 0 {
				return []byte(windows.UTF16ToString(buf)), nil
			}
		}
	}
	var used, props uint32
	procEvtRender.Call(0, h, evtRenderEventXML, 0, 0, uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
	if used == 0 {
		return nil, errors.New("EvtRender returned nothing")
	}
	buf := make([]uint16, used/2+1)
	ok, _, err := procEvtRender.Call(0, h, evtRenderEventXML, uintptr(used), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
	if ok == 0 {
		return nil, err
	}
	return []byte(windows.UTF16ToString(buf)), nil
}
