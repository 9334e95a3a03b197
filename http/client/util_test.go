package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

func decode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// readAll reads a response's body and puts it back.
func readAll(res *http.Response) ([]byte, error) {
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}
