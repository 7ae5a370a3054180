package adbench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// processTree is pid and its descendants, from /proc/PID/task/TID/children.
func processTree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(filepath.Join("/proc", fmt.Sprint(out[i]), "task", "*", "children"))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}
