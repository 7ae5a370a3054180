package grouppolicy

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// FormatGPTINI is the GPT.INI the controller writes: "[General]", "Version=N", CRLF line ends,
// single-byte text without a byte-order mark (a GPT.INI with a BOM makes samba-tool gpo backup
// fail, and Windows reads it as ANSI).
func FormatGPTINI(version uint32) []byte {
	return []byte("[General]\r\nVersion=" + strconv.FormatUint(uint64(version), 10) + "\r\n")
}

// ParseGPTINIVersion reads Version= from the [General] section (keys and section names compare
// case-insensitively, as Windows' profile API does).
func ParseGPTINIVersion(b []byte) (uint32, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "general" || !strings.EqualFold(strings.TrimSpace(k), "Version") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("GPT.INI: Version=%q is not a 32-bit number", strings.TrimSpace(v))
		}
		return uint32(n), nil
	}
	return 0, fmt.Errorf("GPT.INI: no Version= in [General]")
}
