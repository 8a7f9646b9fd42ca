package wiring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
)

// EnvWithDotenv returns a Lookup over the process environment, falling
// back to the variables of the dotenv file at path when it exists (the
// seed reads ./.env). The real environment wins, as with dotenv.
func EnvWithDotenv(path string) (Lookup, error) {
	file, err := godotenv.Read(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("wiring: read %s: %w", path, err)
		}
		file = nil
	}
	return func(key string) (string, bool) {
		if v, ok := os.LookupEnv(key); ok {
			return v, true
		}
		v, ok := file[key]
		return v, ok
	}, nil
}
