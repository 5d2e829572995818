package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiFlags are how the client commands reach the API.
type apiFlags struct {
	base, token string
}

func (a *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&a.base, "api", "http://127.0.0.1:8080", "base URL of the anpr API")
	cmd.PersistentFlags().StringVar(&a.token, "token", "", "bearer token (default: $ANPR_TOKEN)")
}

// do sends a request and copies a 2xx answer to out; any other status is an
// error carrying the API's message.
func (a *apiFlags) do(method, path, contentType string, body io.Reader, out io.Writer) error {
	return a.doHeader(method, path, nil, contentType, body, out)
}

// doHeader is do with extra request headers.
func (a *apiFlags) doHeader(method, path string, header http.Header, contentType string, body io.Reader, out io.Writer) error {
	req, err := http.NewRequest(method, strings.TrimRight(a.base, "/")+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	tok := a.token
	if tok == "" {
		tok = os.Getenv("ANPR_TOKEN")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	_, err = out.Write(b)
	return err
}

func newHotlistCmd() *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   "hotlist",
		Short: "List, import and remove hotlist entries through the API (admin role)",
	}
	a.register(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "ls [LIST [PLATE]]",
		Short: "The lists with their sizes; or the entry of PLATE in LIST",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				return a.do("GET", "/api/v1/hotlists", "", nil, cmd.OutOrStdout())
			case 1:
				return fmt.Errorf("give a plate: lists can hold millions of entries")
			}
			return a.do("GET", "/api/v1/hotlists/"+url.PathEscape(args[0])+"/entries?plate="+url.QueryEscape(args[1]), "", nil, cmd.OutOrStdout())
		},
	})
	var strict bool
	imp := &cobra.Command{
		Use:   "import LIST FILE.csv",
		Short: "Import a CSV file (SPEC §4 columns); bad rows are reported, the good ones applied (or none with --strict)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			path := "/api/v1/hotlists/" + url.PathEscape(args[0]) + "/import"
			if strict {
				path += "?strict=true"
			}
			return a.do("POST", path, "text/csv", f, cmd.OutOrStdout())
		},
	}
	imp.Flags().BoolVar(&strict, "strict", false, "apply nothing if any row is bad")
	cmd.AddCommand(imp)
	cmd.AddCommand(&cobra.Command{
		Use:   "rm LIST PLATE",
		Short: "Remove the entry of PLATE from LIST",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.do("DELETE", "/api/v1/hotlists/"+url.PathEscape(args[0])+"/entries/"+url.PathEscape(args[1]), "", nil, cmd.OutOrStdout())
		},
	})
	return cmd
}
