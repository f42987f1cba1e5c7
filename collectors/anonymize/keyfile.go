package anonymize

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MinSecret is the shortest secret a key file may hold.
const MinSecret = 16

// ErrNoKeyFile is returned by [LoadKeyFile] for a missing file it may not
// create.
var ErrNoKeyFile = errors.New("the key file does not exist")

// LoadKeyFile reads the secret that keys an anonymization (see
// [NewFromSecret]) from path. When the file does not exist and create is
// set, it makes one with KeySize random bytes, mode 0600, and says so with
// created; a secret never goes into what is shared, so the file is the
// only way to map later data the same way.
func LoadKeyFile(path string, create bool) (secret []byte, created bool, err error) {
	secret, err = os.ReadFile(path)
	switch {
	case err == nil:
		if len(secret) < MinSecret {
			return nil, false, fmt.Errorf("key file %s holds %d bytes; it needs at least %d (remove it to have a fresh %d-byte key made)", path, len(secret), MinSecret, KeySize)
		}
		return secret, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("key file: %w", err)
	case !create:
		return nil, false, fmt.Errorf("%s: %w", path, ErrNoKeyFile)
	}
	secret = make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	_, err = f.Write(secret)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	return secret, true, nil
}
