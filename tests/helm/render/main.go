// Command render renders a Helm chart the way `helm template` does, for tests that must run with
// no network and no helm binary. It uses Go's text/template with the sprig function map and
// helm's own functions (include, tpl, required, toYaml, fromYaml, toJson, fromJson, ...), loads
// values like helm (values.yaml deep-merged with -f files and --set pairs, null deleting a key),
// validates them against values.schema.json and prints the rendered multi-document YAML.
//
// Usage: render [-f values.yaml]... [--set a.b=c]... [--name R] [--namespace N] [--notes] CHART
//
// Deliberate omissions: lookup (no cluster), .Files, subcharts, hooks; .Capabilities is a stub.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// apiVersions mirrors helm's chartutil.VersionSet (.Capabilities.APIVersions.Has).
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type kubeVersion struct{ Version, Major, Minor, GitVersion string }

func (k kubeVersion) String() string { return k.Version }

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
	HelmVersion map[string]string
}

func main() {
	var valueFiles, sets, extraAPIs multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&valueFiles, "values", "same as -f")
	flag.Var(&sets, "set", "key.path=value (repeatable; value parsed as YAML)")
	flag.Var(&extraAPIs, "api-versions", "extra API version for .Capabilities.APIVersions")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kube := flag.String("kube-version", "v1.29.0", "Kubernetes version for .Capabilities")
	notes := flag.Bool("notes", false, "also render NOTES.txt (printed after the manifests)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [-f values.yaml]... [--set k=v]... [--name R] [--namespace N] CHART")
		os.Exit(2)
	}
	out, err := run(flag.Arg(0), valueFiles, sets, *name, *namespace, *kube, extraAPIs, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// coalesce merges src into dst like helm: maps merge recursively, other values replace, and an
// explicit null deletes the key.
func coalesce(dst, src map[string]interface{}) {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			coalesce(dm, sm)
			continue
		}
		dst[k] = sv
	}
}

// setValue applies one --set pair (dotted key; the value is parsed as a YAML scalar/flow value).
func setValue(vals map[string]interface{}, pair string) error {
	eq := strings.Index(pair, "=")
	if eq <= 0 {
		return fmt.Errorf("--set %q: want key=value", pair)
	}
	keys := strings.Split(pair[:eq], ".")
	var v interface{}
	if err := yaml.Unmarshal([]byte(pair[eq+1:]), &v); err != nil {
		v = pair[eq+1:]
	}
	m := vals
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	if v == nil {
		delete(m, keys[len(keys)-1])
	} else {
		m[keys[len(keys)-1]] = v
	}
	return nil
}

// validate checks the values against values.schema.json, with helm's message layout.
func validate(chartName string, schemaFile string, vals map[string]interface{}) error {
	schema, err := ioutil.ReadFile(schemaFile)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	doc, err := json.Marshal(vals)
	if err != nil {
		return err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		return fmt.Errorf("%s: %v", schemaFile, err)
	}
	if res.Valid() {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", chartName)
	for _, e := range res.Errors() {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	return errors.New(strings.TrimSuffix(b.String(), "\n"))
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return v, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return v, errors.New(msg)
	}
	return v, nil
}

// chartMeta turns Chart.yaml into helm's .Chart (Name, Version, AppVersion, ...).
func chartMeta(raw map[string]interface{}) map[string]interface{} {
	meta := map[string]interface{}{}
	for k, v := range raw {
		key := strings.ToUpper(k[:1]) + k[1:]
		if k == "apiVersion" {
			key = "APIVersion"
		}
		meta[key] = v
	}
	for _, k := range []string{"Name", "Version", "AppVersion", "Description", "Type", "KubeVersion"} {
		if _, ok := meta[k]; !ok {
			meta[k] = ""
		}
	}
	return meta
}

func run(chartDir string, valueFiles, sets []string, name, namespace, kube string, extraAPIs []string, notes bool) (string, error) {
	chartRaw, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	chart := chartMeta(chartRaw)
	chartName, _ := chart["Name"].(string)
	if chart["APIVersion"] != "v2" || chartName == "" {
		return "", fmt.Errorf("%s/Chart.yaml: apiVersion v2 and a name are required", chartDir)
	}

	vals, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		override, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		coalesce(vals, override)
	}
	for _, s := range sets {
		if err := setValue(vals, s); err != nil {
			return "", err
		}
	}
	if err := validate(chartName, filepath.Join(chartDir, "values.schema.json"), vals); err != nil {
		return "", err
	}

	major, minor := "1", "29"
	if parts := strings.SplitN(strings.TrimPrefix(kube, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	apis := apiVersions{"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1", "batch/v1"}
	apis = append(apis, extraAPIs...)
	top := map[string]interface{}{
		"Values": vals,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": capabilities{
			KubeVersion: kubeVersion{Version: kube, Major: major, Minor: minor, GitVersion: kube},
			APIVersions: apis,
			HelmVersion: map[string]string{"Version": "v3-offline-test-renderer"},
		},
		"Files": map[string]interface{}{},
	}

	// Every file under templates/ joins one template set, named <chart>/templates/<file>.
	tdir := filepath.Join(chartDir, "templates")
	var files []string
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["required"] = required
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs)
	// include and tpl need the template set itself.
	root.Funcs(template.FuncMap{
		"include": func(n string, data interface{}) (string, error) {
			includeDepth++
			defer func() { includeDepth-- }()
			if includeDepth > 1000 {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", n)
			}
			var buf bytes.Buffer
			if err := root.ExecuteTemplate(&buf, n, data); err != nil {
				return "", err
			}
			return buf.String(), nil
		},
		"tpl": func(text string, data interface{}) (string, error) {
			t, err := root.Clone()
			if err != nil {
				return "", err
			}
			if _, err := t.New("tpl").Parse(text); err != nil {
				return "", fmt.Errorf("cannot parse template %q: %v", text, err)
			}
			var buf bytes.Buffer
			if err := t.ExecuteTemplate(&buf, "tpl", data); err != nil {
				return "", err
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	})
	names := map[string]string{}
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		tname := path.Join(chartName, filepath.ToSlash(rel))
		data, err := ioutil.ReadFile(f)
		if err != nil {
			return "", err
		}
		if _, err := root.New(tname).Parse(string(data)); err != nil {
			return "", fmt.Errorf("parse error in %q: %v", tname, err)
		}
		names[tname] = f
	}

	var out strings.Builder
	var notesText string
	var tnames []string
	for n := range names {
		tnames = append(tnames, n)
	}
	sort.Strings(tnames)
	for _, tname := range tnames {
		base := path.Base(tname)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || (!isNotes && !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".tpl"))) {
			continue
		}
		if strings.HasSuffix(base, ".tpl") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": tname, "BasePath": path.Join(chartName, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if isNotes {
			notesText = text
			continue
		}
		// Split into documents like helm and check each one parses, as helm does when it
		// sorts the manifests.
		for i, doc := range splitDocs(text) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", fmt.Errorf("YAML parse error on %s (document %d): %v", tname, i, err)
			}
			if head.APIVersion == "" || head.Kind == "" {
				return "", fmt.Errorf("%s (document %d): apiVersion and kind are required", tname, i)
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, doc)
		}
	}
	if notes {
		fmt.Fprintf(&out, "\nNOTES:\n%s\n", notesText)
	}
	return out.String(), nil
}

// splitDocs splits a rendered file on '---' lines and drops documents that are empty or only
// comments (they hold no object; helm drops them too).
func splitDocs(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = nil
		meaningful := false
		for _, line := range strings.Split(doc, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, doc)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " \t") == "---" || strings.HasPrefix(line, "--- ") {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}
