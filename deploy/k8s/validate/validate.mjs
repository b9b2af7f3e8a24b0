// Validates Kubernetes manifests offline against the Kubernetes API schemas
// carried by the pinned `kubernetes-models` package (package.json; generated
// from the Kubernetes OpenAPI spec), in two passes over every document:
//
// 1. its JSON schema, with the package's Ajv-compiled validator: types,
//    integer formats, required fields;
// 2. strictly, as kubectl's strict field validation does: the document is
//    type-checked by the TypeScript compiler as an object literal of the
//    package's interface for its kind, so a field the API does not have (a
//    typo) fails too, which the schemas alone let through. Like any
//    compiler, it may name only the innermost unknown field of an object
//    until that one is fixed.
//
// Usage: node validate.mjs --modules=DIR [--config-map=NAME/KEY=FILE]... MANIFEST...
//   --modules      the node_modules directory the packages are installed in
//                  (deploy/k8s/validate/install.sh)
//   --config-map   the ConfigMap NAME must hold FILE, byte for byte, as KEY
//                  (an example config embedded in a manifest cannot drift)
//
// Prints "FILE:LINE: Kind/name: path: problem" for each problem and exits 1 if
// there was any; otherwise prints one "FILE: ok" line per manifest.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const option = (name) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const modules = path.resolve(option("modules")[0] ?? "");
const manifests = args.filter((a) => !a.startsWith("--"));
const require = createRequire(path.join(modules, "/"));
const YAML = require("yaml");
const ts = require("typescript");

const problems = [];
const report = (where, what) => problems.push(`${where}: ${what}`);

// The line (1-based) of the node at `keys` in a parsed YAML document: a map
// entry's key, a sequence item, or the deepest node that exists on the way.
function lineOf(document, lines, keys) {
  let node = document.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const key of keys) {
    if (YAML.isMap(node)) {
      const pair = node.items.find((p) => String(p.key?.value ?? p.key) === String(key));
      if (!pair) break;
      offset = pair.key?.range?.[0] ?? offset;
      node = pair.value;
    } else if (YAML.isSeq(node) && node.items[key]) {
      node = node.items[key];
      offset = node.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return lines.linePos(offset).line;
}

const pathText = (keys) =>
  keys.reduce((text, k) => (typeof k === "number" ? `${text}[${k}]` : text ? `${text}.${k}` : k), "");

// Writes `value` as a TypeScript object literal, one property or item per
// line, remembering which document path each line holds. Scalars become
// `any`, so that the compiler reports fields, not values.
function emitLiteral(value, keys, indent, out, paths) {
  const pad = "  ".repeat(indent);
  if (Array.isArray(value)) {
    out[out.length - 1] += "[";
    value.forEach((item, i) => {
      paths[out.length] = [...keys, i];
      out.push(pad + "  ");
      emitLiteral(item, [...keys, i], indent + 1, out, paths);
      out[out.length - 1] += ",";
    });
    out.push(pad + "]");
  } else if (value !== null && typeof value === "object") {
    out[out.length - 1] += "{";
    for (const [key, item] of Object.entries(value)) {
      paths[out.length] = [...keys, key];
      out.push(`${pad}  ${JSON.stringify(key)}: `);
      emitLiteral(item, [...keys, key], indent + 1, out, paths);
      out[out.length - 1] += ",";
    }
    out.push(pad + "}");
  } else {
    // Values are the schemas' business (pass 1): only the fields are checked here.
    out[out.length - 1] += "(null as any)";
  }
}

const documents = [];  // {file, document, lines, object, kind, name}
for (const file of manifests) {
  const lines = new YAML.LineCounter();
  const parsed = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { lineCounter: lines, uniqueKeys: true });
  for (const document of parsed) {
    for (const error of document.errors) {
      report(`${file}:${error.linePos?.[0]?.line ?? "?"}`, `YAML: ${error.message.split("\n")[0]}`);
    }
    if (document.errors.length > 0 || document.contents === null) continue;
    const object = document.toJS();
    const where = `${file}:${lineOf(document, lines, [])}`;
    if (typeof object?.apiVersion !== "string" || typeof object?.kind !== "string") {
      report(where, "a manifest needs string apiVersion and kind");
      continue;
    }
    const model = path.join(modules, "kubernetes-models", object.apiVersion, `${object.kind}.js`);
    if (!fs.existsSync(model)) {
      report(where, `no Kubernetes schema for apiVersion ${object.apiVersion}, kind ${object.kind}`);
      continue;
    }
    documents.push({ file, document, lines, object, model, name: `${object.kind}/${object.metadata?.name}` });
  }
}

// Pass 1: the JSON schemas.
for (const d of documents) {
  const Model = (await import(pathToFileURL(d.model)))[d.object.kind];
  try {
    new Model(d.object).validate();
  } catch (error) {
    for (const e of error.errors ?? [{ instancePath: "", message: error.message }]) {
      const keys = e.instancePath.split("/").slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
      report(`${d.file}:${lineOf(d.document, d.lines, keys)}: ${d.name}`, `${pathText(keys) || "(document)"} ${e.message}`);
    }
  }
}

// Pass 2: strict fields, through the TypeScript compiler.
const source = [];
const owners = [];  // Per line of `source`: [document, path].
documents.forEach((d, i) => {
  const module = `kubernetes-models/${d.object.apiVersion}/${d.object.kind}`;
  source.push(`import type { I${d.object.kind} as T${i} } from ${JSON.stringify(module)};`);
});
documents.forEach((d, i) => {
  const paths = [];
  const start = source.length;
  source.push(`export const d${i}: T${i} = `);
  emitLiteral(d.object, [], 0, source, paths);
  source[source.length - 1] += ";";
  for (let line = start; line < source.length; ++line) owners[line] = [d, paths[line] ?? []];
});
const virtual = path.join(modules, "..", "manifests.ts");
const options = {
  strict: true, noEmit: true, skipLibCheck: true, types: [],
  target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
};
const host = ts.createCompilerHost(options);
const readFile = host.readFile.bind(host);
const getSourceFile = host.getSourceFile.bind(host);
host.readFile = (f) => (f === virtual ? source.join("\n") : readFile(f));
host.fileExists = (f) => f === virtual || fs.existsSync(f);
host.getSourceFile = (f, language) =>
  f === virtual ? ts.createSourceFile(f, source.join("\n"), language, true) : getSourceFile(f, language);
const program = ts.createProgram([virtual], options, host);
// Missing required fields: pass 1 reports them already.
const kMissingProperties = new Set([2739, 2740, 2741]);
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  if (kMissingProperties.has(diagnostic.code)) continue;
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
  if (diagnostic.file?.fileName !== virtual) {
    report("validator", message);  // The packages themselves: a broken install.
    continue;
  }
  const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line;
  const [d, keys] = owners[line] ?? [documents[0], []];
  report(`${d.file}:${lineOf(d.document, d.lines, keys)}: ${d.name}`, `${pathText(keys) || "(document)"}: ${message}`);
}

// Example configs embedded in ConfigMaps.
for (const spec of option("config-map")) {
  const [, name, key, file] = spec.match(/^([^/]+)\/([^=]+)=(.+)$/) ?? [];
  const map = documents.find((d) => d.object.kind === "ConfigMap" && d.object.metadata?.name === name);
  if (!map) {
    report(spec, `no ConfigMap ${name} in the manifests`);
  } else if (map.object.data?.[key] !== fs.readFileSync(file, "utf8")) {
    report(`${map.file}:${lineOf(map.document, map.lines, ["data", key])}: ${map.name}`,
           `data.${key} differs from ${file}: copy the file into the manifest`);
  }
}

for (const problem of problems) console.log(problem);
if (problems.length > 0) process.exit(1);
for (const file of manifests) console.log(`${file}: ok`);
