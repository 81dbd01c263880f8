package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/format"
	"os"
)

// Formatting (go/format) is most of idemgen's own work. To skip it when
// nothing changed, the second line of a generated file records two sums:
//
//	// idemgen-sum: <source> <content>
//
// <source> is a SHA-256 prefix of the unformatted code; <content> is one of
// the file's bytes without this line. When the file on disk carries the sum
// of the code just built and its bytes still match their own sum (nobody
// edited it), it is the formatted output already and is kept as is. The Go
// version is deliberately not part of the sum: go/format's output is stable
// across releases, and -check must not fail in CI merely because CI runs
// another Go patch release than the machine that generated the files.
const sumPrefix = "// idemgen-sum: "

// formatWithSum formats raw, generated for the file at path, and inserts
// the sum line after the header, or returns the file on disk when its sums
// show that it is exactly that.
func formatWithSum(raw []byte, path string) ([]byte, error) {
	source := sourceSum(raw)

	if old, err := os.ReadFile(path); err == nil {
		if line, rest, ok := splitSum(old); ok && len(line) == len(sumPrefix)+65 && string(line[len(sumPrefix):len(sumPrefix)+32]) == source {
			c := sha256.Sum256(rest)
			if string(line[len(sumPrefix)+33:]) == hex.EncodeToString(c[:16]) {
				return old, nil
			}
		}
	}
	out, err := format.Source(raw)
	if err != nil {
		return nil, fmt.Errorf("formatting the generated code: %w\n%s", err, raw)
	}
	return withSum(out, source), nil
}

// sourceSum is the <source> sum of unformatted code.
func sourceSum(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:16])
}

// withSum inserts the sum line into formatted code, after its first line.
func withSum(out []byte, source string) []byte {
	c := sha256.Sum256(out)
	first := bytes.IndexByte(out, '\n') + 1
	var b bytes.Buffer
	b.Grow(len(out) + len(sumPrefix) + 66)
	b.Write(out[:first])
	b.WriteString(sumPrefix + source + " " + hex.EncodeToString(c[:16]) + "\n")
	b.Write(out[first:])
	return b.Bytes()
}

// splitSum returns the sum line (without its newline) of a generated file
// and the file without that line.
func splitSum(file []byte) (line, rest []byte, ok bool) {
	first := bytes.IndexByte(file, '\n') + 1
	if first == 0 || !bytes.HasPrefix(file[first:], []byte(sumPrefix)) {
		return nil, nil, false
	}
	end := bytes.IndexByte(file[first:], '\n')
	if end < 0 {
		return nil, nil, false
	}
	line = file[first : first+end]
	rest = make([]byte, 0, len(file)-end-1)
	rest = append(rest, file[:first]...)
	rest = append(rest, file[first+end+1:]...)
	return line, rest, true
}
