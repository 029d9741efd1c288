#!/usr/bin/env node
// `npm run pack`: builds the npm packages described by packaging/packages.json from the compiled tree (build/, made by
// `tsc -p tsconfig.build.json`) and writes every tarball into dist/packages/. Nothing under src/ moves: each package is
// assembled in build/packages/<name>/ from the files it owns, with a generated package.json (exports with
// types/node/default conditions, files, dependencies, peers), its README and the LICENSE.
//
// Checks (any failure stops with the reason): every file reached from an entry is owned by exactly one package; an
// import of another package's file becomes an import of that package; every third-party import is a dependency of the
// repository or a declared peer; an optional peer is never imported statically from a package's main entry; no
// package pulls in what its `mustNotPull` lists; the generated imports all resolve inside the packages.
//
//   node scripts/pack.mjs [--no-build] [--no-tarballs] [--out DIR]
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { build } from './build.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(ROOT, 'build');
const STAGE = join(BUILD, 'packages');

class PackError extends Error {}

/** Package name of a bare specifier: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
export function packageNameOf(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const BUILTINS = new Set(builtinModules);
const isBuiltin = (spec) => spec.startsWith('node:') || BUILTINS.has(packageNameOf(spec));

/**
 * Module specifiers of a JS or .d.ts file with the positions of their text: import/export declarations, import()
 * calls and `import("x").T` types, read from the syntax tree (comments and strings are never mistaken for imports).
 */
function importsOf(text, dts = false) {
  const sf = ts.createSourceFile(dts ? 'x.d.ts' : 'x.js', text, ts.ScriptTarget.ES2022, true, dts ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const imports = [];
  const add = (lit) => imports.push({ spec: lit.text, pos: lit.getStart(sf) + 1, end: lit.getEnd() - 1 });
  const visit = (n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) add(n.moduleSpecifier);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] !== undefined && ts.isStringLiteral(n.arguments[0])) add(n.arguments[0]);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) add(n.argument.literal);
    else if (ts.isModuleDeclaration(n) && ts.isStringLiteral(n.name)) throw new PackError(`module augmentation declare module "${n.name.text}" is not supported by the packer`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { imports, typeRefs: sf.typeReferenceDirectives.map((r) => r.fileName) };
}

/** Static (non-dynamic, non-type-only) import specifiers of emitted JavaScript. */
function staticImportsOf(text) {
  const sf = ts.createSourceFile('x.js', text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
  const out = [];
  for (const st of sf.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) out.push(st.moduleSpecifier.text);
  }
  return out;
}

/** Normalizes the map: entries as { default, node? }, owns sorted. */
function readMap() {
  const map = JSON.parse(readFileSync(join(ROOT, 'packaging/packages.json'), 'utf8'));
  const names = new Set();
  for (const p of map.packages) {
    if (names.has(p.name)) throw new PackError(`packaging/packages.json: package ${p.name} listed twice`);
    names.add(p.name);
    p.entries = Object.fromEntries(Object.entries(p.exports).map(([sub, e]) => [sub, typeof e === 'string' ? { default: e } : e]));
    p.peers = p.peerDependencies ?? {};
    p.bin = p.bin ?? {};
  }
  return map;
}

function ownerOf(map, file) {
  let best;
  let bestLen = -1;
  for (const p of map.packages)
    for (const o of p.owns) {
      const hit = o.endsWith('/') ? file.startsWith(o) : file === o;
      if (hit && o.length > bestLen) {
        best = p;
        bestLen = o.length;
      } else if (hit && o.length === bestLen && best !== p) throw new PackError(`${file} is owned by both ${best.name} and ${p.name}`);
    }
  return best;
}

const jsOf = (file) => join(BUILD, file.replace(/\.ts$/, '.js'));
const dtsOf = (file) => join(BUILD, file.replace(/\.ts$/, '.d.ts'));

/**
 * Walks the import graph from every entry and bin of every package. Returns per package: its files, the cross-package
 * imports (file → target), third-party imports (runtime and type-only), and which internal subpaths others need.
 */
function analyse(map) {
  const state = new Map(map.packages.map((p) => [p.name, { files: new Set(), runtime: new Map(), types: new Map(), internal: new Set(), uses: new Set(), typeRefs: new Set() }]));
  const queue = [];
  const from = new Map(); // file -> the file that first reached it (for error messages)
  const reach = (file, by) => {
    const owner = ownerOf(map, file);
    if (owner === undefined) throw new PackError(`src/${file} (imported by src/${by ?? '?'}) is owned by no package: add it to an "owns" list in packaging/packages.json`);
    const s = state.get(owner.name);
    if (!s.files.has(file)) {
      s.files.add(file);
      from.set(file, by);
      queue.push(file);
    }
    return owner;
  };
  for (const p of map.packages) {
    for (const e of Object.values(p.entries)) for (const f of Object.values(e)) if (ownerOf(map, f) !== p) throw new PackError(`${p.name}: entry ${f} is not owned by it`);
    for (const f of Object.values(p.bin)) if (ownerOf(map, f) !== p) throw new PackError(`${p.name}: bin ${f} is not owned by it`);
    for (const e of Object.values(p.entries)) for (const f of Object.values(e)) reach(f);
    for (const f of Object.values(p.bin)) reach(f);
  }
  while (queue.length > 0) {
    const file = queue.shift();
    const owner = ownerOf(map, file);
    const s = state.get(owner.name);
    for (const [path, kind] of [[jsOf(file), 'runtime'], [dtsOf(file), 'types']]) {
      if (!existsSync(path)) {
        if (kind === 'types' && existsSync(jsOf(file))) throw new PackError(`${relative(ROOT, path)} missing: is declaration emit on?`);
        throw new PackError(`${relative(ROOT, path)} missing (reached from src/${from.get(file) ?? file}): build first (npm run build), or the file is excluded by tsconfig.build.json`);
      }
      const { imports, typeRefs } = importsOf(readFileSync(path, 'utf8'), kind === 'types');
      for (const r of typeRefs) s.typeRefs.add(r);
      for (const { spec } of imports) {
        if (spec.startsWith('.')) {
          const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
          if (!existsSync(join(ROOT, 'src', target))) throw new PackError(`src/${file}: import ${spec} does not name a source file`);
          const tOwner = reach(target, file);
          if (tOwner !== owner) s.uses.add(tOwner.name);
        } else if (!isBuiltin(spec)) {
          const name = packageNameOf(spec);
          const m = kind === 'runtime' ? s.runtime : s.types;
          if (!m.has(name)) m.set(name, file);
        } else if (!spec.startsWith('node:')) throw new PackError(`src/${file}: import "${spec}": write node:${spec}`);
      }
    }
  }
  return state;
}

/** The subpath of package `p` that names source file `file` (an entry, else an internal subpath). */
function subpathFor(p, file, internal) {
  for (const [sub, e] of Object.entries(p.entries)) if (e.default === file || e.node === file) return sub;
  const sub = `./internal/${file.replace(/\.ts$/, '.js')}`;
  internal.add(file);
  return sub;
}

/** Rewrites one emitted file: imports of other packages' files become imports of those packages. */
function rewrite(map, file, text, dts) {
  const owner = ownerOf(map, file);
  const { imports } = importsOf(text, dts);
  let out = text;
  for (const { spec, pos, end } of [...imports].sort((a, b) => b.pos - a.pos)) {
    if (!spec.startsWith('.')) continue;
    const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
    const tOwner = ownerOf(map, target);
    if (tOwner === owner) continue;
    const sub = subpathFor(tOwner, target, new Set());
    const bare = sub === '.' ? tOwner.name : `${tOwner.name}/${sub.slice(2)}`;
    out = out.slice(0, pos) + bare + out.slice(end);
  }
  return out;
}

function rootPackage() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
}

/** Generates every package.json; checks dependencies, optional peers and mustNotPull. */
function manifests(map, state) {
  const root = rootPackage();
  const version = root.version;
  const byName = new Map(map.packages.map((p) => [p.name, p]));
  // internal subpaths needed by importers
  for (const p of map.packages) {
    const s = state.get(p.name);
    for (const file of s.files) {
      for (const path of [jsOf(file), dtsOf(file)]) {
        for (const { spec } of importsOf(readFileSync(path, 'utf8'), path.endsWith('.d.ts')).imports) {
          if (!spec.startsWith('.')) continue;
          const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
          const tOwner = ownerOf(map, target);
          if (tOwner !== p) subpathFor(tOwner, target, state.get(tOwner.name).internal);
        }
      }
    }
  }
  const out = new Map();
  for (const p of map.packages) {
    const s = state.get(p.name);
    const dependencies = {};
    const peerDependencies = {};
    const peerDependenciesMeta = {};
    for (const u of [...s.uses].sort()) dependencies[u] = version;
    for (const [name, file] of [...s.runtime, ...s.types]) {
      if (dependencies[name] !== undefined || peerDependencies[name] !== undefined) continue;
      const peer = p.peers[name];
      if (peer !== undefined) {
        peerDependencies[name] = peer.range;
        if (peer.optional) peerDependenciesMeta[name] = { optional: true };
        continue;
      }
      const v = root.dependencies?.[name];
      if (v === undefined)
        throw new PackError(
          `${p.name}: src/${file} imports ${name}, which is ${root.devDependencies?.[name] ? 'only a devDependency' : 'not a dependency'} of the repository; add it to package.json dependencies, or as a peer of ${p.name} in packaging/packages.json`,
        );
      dependencies[name] = v;
    }
    const exportsField = {};
    const entryFor = (e) => {
      const o = { types: `./dist/${e.default.replace(/\.ts$/, '.d.ts')}` };
      if (e.node !== undefined) o.node = `./dist/${e.node.replace(/\.ts$/, '.js')}`;
      o.default = `./dist/${e.default.replace(/\.ts$/, '.js')}`;
      return o;
    };
    for (const [sub, e] of Object.entries(p.entries)) exportsField[sub] = entryFor(e);
    for (const f of [...s.internal].sort()) exportsField[`./internal/${f.replace(/\.ts$/, '.js')}`] = entryFor({ default: f });
    exportsField['./package.json'] = './package.json';
    const main = p.entries['.'];
    const manifest = {
      name: p.name,
      version,
      description: p.description,
      license: root.license,
      type: 'module',
      engines: root.engines,
      ...(main ? { main: `./dist/${main.default.replace(/\.ts$/, '.js')}`, types: `./dist/${main.default.replace(/\.ts$/, '.d.ts')}` } : {}),
      exports: exportsField,
      ...(Object.keys(p.bin).length > 0 ? { bin: Object.fromEntries(Object.entries(p.bin).map(([k, f]) => [k, `dist/${f.replace(/\.ts$/, '.js')}`])) } : {}),
      files: ['dist'],
      keywords: ['txn-token', 'transaction-tokens', 'oauth', 'token-exchange', 'rfc8693', 'cerbos', 'mcp', 'authorization'],
      ...(Object.keys(dependencies).length > 0 ? { dependencies: sortKeys(dependencies) } : {}),
      ...(Object.keys(peerDependencies).length > 0 ? { peerDependencies: sortKeys(peerDependencies) } : {}),
      ...(Object.keys(peerDependenciesMeta).length > 0 ? { peerDependenciesMeta: sortKeys(peerDependenciesMeta) } : {}),
    };
    for (const name of Object.keys(p.peers)) if (peerDependencies[name] === undefined) throw new PackError(`${p.name}: peer ${name} is declared in packaging/packages.json but never imported`);
    out.set(p.name, manifest);
  }
  // an optional peer is never needed to import a package's main entry (checked over the static import graph)
  for (const p of map.packages) {
    const main = p.entries['.'];
    if (main === undefined) continue;
    const optional = Object.entries(p.peers).filter(([, v]) => v.optional).map(([k]) => k);
    for (const f of [main.default, main.node].filter(Boolean)) {
      const bare = staticClosure(map, f);
      const bad = optional.filter((o) => bare.has(o));
      if (bad.length > 0) throw new PackError(`${p.name}: importing its main entry needs the optional peer ${bad.join(', ')} (imported statically from ${[...bad.map((b) => bare.get(b))].join(', ')})`);
    }
  }
  // mustNotPull: over the generated dependency graph (Baton packages and their third-party dependencies; a
  // third-party package's own dependencies come from the root lockfile)
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  for (const p of map.packages) {
    if (!p.mustNotPull) continue;
    const pulled = pulls(p.name, out, byName, lock);
    const bad = p.mustNotPull.filter((n) => pulled.has(n));
    if (bad.length > 0) throw new PackError(`${p.name} pulls in ${bad.map((b) => `${b} (via ${pulled.get(b)})`).join(', ')}, which packaging/packages.json says it must not`);
  }
  return out;
}

function sortKeys(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Third-party packages imported statically (at load time) from `file`, across packages; name → importing file. */
function staticClosure(map, file) {
  const seen = new Set();
  const bare = new Map();
  const stack = [file];
  while (stack.length > 0) {
    const f = stack.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    for (const spec of staticImportsOf(readFileSync(jsOf(f), 'utf8'))) {
      if (spec.startsWith('.')) stack.push(posix.normalize(posix.join(posix.dirname(f), spec)).replace(/\.js$/, '.ts'));
      else if (!isBuiltin(spec) && !bare.has(packageNameOf(spec))) bare.set(packageNameOf(spec), `src/${f}`);
    }
  }
  return bare;
}

/** Everything installing `name` brings in (name → the package that requires it); optional peers are not installed. */
export function pulls(name, manifests, byName, lock) {
  const got = new Map();
  const visit = (n, via) => {
    if (got.has(n)) return;
    got.set(n, via);
    const m = manifests.get(n);
    if (m !== undefined) {
      for (const d of Object.keys(m.dependencies ?? {})) visit(d, n);
      for (const [d] of Object.entries(m.peerDependencies ?? {})) if (!m.peerDependenciesMeta?.[d]?.optional) visit(d, n);
      return;
    }
    const entry = lock.packages?.[`node_modules/${n}`];
    if (entry === undefined) return;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(d, n);
    for (const d of Object.keys(entry.peerDependencies ?? {})) if (!entry.peerDependenciesMeta?.[d]?.optional) visit(d, n);
  };
  visit(name, '(itself)');
  got.delete(name);
  return got;
}

function stage(map, state, manifestsByName) {
  rmSync(STAGE, { recursive: true, force: true });
  const root = rootPackage();
  for (const p of map.packages) {
    const dir = join(STAGE, p.name);
    const s = state.get(p.name);
    for (const file of [...s.files].sort()) {
      for (const [src, ext] of [[jsOf(file), '.js'], [dtsOf(file), '.d.ts']]) {
        const dest = join(dir, 'dist', file.replace(/\.ts$/, ext));
        mkdirSync(dirname(dest), { recursive: true });
        writeFileSync(dest, rewrite(map, file, readFileSync(src, 'utf8'), ext === '.d.ts'), { mode: Object.values(p.bin).includes(file) && ext === '.js' ? 0o755 : 0o644 });
      }
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifestsByName.get(p.name), null, 2) + '\n');
    copyFileSync(join(ROOT, 'LICENSE'), join(dir, 'LICENSE'));
    const readme = readFileSync(join(ROOT, p.readme), 'utf8');
    writeFileSync(join(dir, 'README.md'), readme);
    void root;
  }
  verifyStaged(map, manifestsByName);
}

/** Every relative import of a staged package resolves inside it; every bare import is a dependency, peer or itself. */
function verifyStaged(map, manifestsByName) {
  for (const p of map.packages) {
    const dir = join(STAGE, p.name);
    const m = manifestsByName.get(p.name);
    const allowed = new Set([p.name, ...Object.keys(m.dependencies ?? {}), ...Object.keys(m.peerDependencies ?? {})]);
    const walk = (d) =>
      readdirSync(d).flatMap((n) => {
        const f = join(d, n);
        return statSync(f).isDirectory() ? walk(f) : [f];
      });
    for (const f of walk(join(dir, 'dist'))) {
      for (const { spec } of importsOf(readFileSync(f, 'utf8'), f.endsWith('.d.ts')).imports) {
        if (spec.startsWith('.')) {
          const t = resolve(dirname(f), spec);
          const candidates = f.endsWith('.d.ts') ? [t.replace(/\.js$/, '.d.ts')] : [t];
          if (!candidates.some(existsSync)) throw new PackError(`${relative(ROOT, f)}: ${spec} does not resolve inside ${p.name}`);
        } else if (!isBuiltin(spec) && !allowed.has(packageNameOf(spec))) throw new PackError(`${relative(ROOT, f)}: imports ${spec}, not a dependency of ${p.name}`);
        else if (!spec.startsWith('.') && manifestsByName.has(packageNameOf(spec))) {
          const target = manifestsByName.get(packageNameOf(spec));
          const sub = spec === target.name ? '.' : `./${spec.slice(target.name.length + 1)}`;
          if (target.exports[sub] === undefined) throw new PackError(`${relative(ROOT, f)}: ${spec} is not exported by ${target.name}`);
        }
      }
    }
  }
}

function packTarballs(map, outDir) {
  mkdirSync(outDir, { recursive: true });
  for (const f of readdirSync(outDir)) if (f.endsWith('.tgz')) rmSync(join(outDir, f));
  const rows = [];
  for (const p of map.packages) {
    const json = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir, join(STAGE, p.name)], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [info] = JSON.parse(json);
    rows.push({ name: p.name, file: info.filename, files: info.entryCount, packed: info.size, unpacked: info.unpackedSize });
  }
  return rows;
}

/** A clean build (no output of a deleted source file survives into a package). */
function cleanBuild() {
  rmSync(BUILD, { recursive: true, force: true });
  if (!build()) throw new PackError('the build failed');
}

export function assemble() {
  const map = readMap();
  const state = analyse(map);
  const m = manifests(map, state);
  stage(map, state, m);
  return { map, state, manifests: m };
}

async function cli(argv) {
  const noBuild = argv.includes('--no-build');
  const noTarballs = argv.includes('--no-tarballs');
  const oi = argv.indexOf('--out');
  const outDir = resolve(ROOT, oi >= 0 ? argv[oi + 1] : 'dist/packages');
  try {
    if (!noBuild) cleanBuild();
    const { map, manifests: m } = assemble();
    if (noTarballs) {
      console.log(`staged ${map.packages.length} packages in ${relative(ROOT, STAGE)}`);
      return 0;
    }
    const rows = packTarballs(map, outDir);
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`${rows.length} packages, version ${rootPackage().version}, in ${relative(ROOT, outDir)}/`);
    for (const r of rows) {
      const deps = Object.keys(m.get(r.name).dependencies ?? {}).join(', ') || '-';
      console.log(`  ${r.file.padEnd(32)} ${String(r.files).padStart(3)} files  ${kib(r.packed).padStart(10)} packed  ${kib(r.unpacked).padStart(10)} unpacked  deps: ${deps}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof PackError) {
      console.error(`pack: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await cli(process.argv.slice(2));
