/**
 * The API report of libs/rsm: every name `#rsm`, `#rsm/nest` and `#rsm/testing` export, with its
 * declared signature, in libs/rsm/api/*.api.md (API Extractor's report format). In rsm.api.md, the
 * types a public signature uses but `#rsm` does not export are written out too, marked
 * `ae-forgotten-export`, so a change to them shows as well. The other two reports name the types of
 * `#rsm` they use without repeating them; `--update` lists the types they use that no entry exports.
 *
 *   node dist/scripts/api-report.js            check (part of `npm test`): fails when a report is stale
 *   node dist/scripts/api-report.js --update   rewrite the reports (`npm run api:report`)
 *
 * It reads the declarations the build emits (tsconfig.build.json: dist/libs/rsm/src/**\/*.d.ts), so
 * run it after `npm run build`; API Extractor runs once per entry, sharing one compiler program.
 */
import { CompilerState, Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage, type IConfigFile } from '@microsoft/api-extractor';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type ts from 'typescript';

const root = join(import.meta.dirname, '..', '..');
const dtsDir = join(root, 'dist', 'libs', 'rsm', 'src');
const reportFolder = join(root, 'libs', 'rsm', 'api');
const tempFolder = join(root, 'dist', 'api-report');

/**
 * The public entries: subpath import, the name its report is titled with (a valid package name, which
 * `#rsm/nest` is not), its declaration file under dtsDir.
 */
const ENTRIES = [
  { name: '#rsm', title: 'rsm', dts: 'index.d.ts' },
  { name: '#rsm/nest', title: 'rsm-nest', dts: 'nest/index.d.ts' },
  { name: '#rsm/testing', title: 'rsm-testing', dts: 'testing/index.d.ts' },
] as const;

const update = process.argv.includes('--update');
const started = performance.now();

type Entry = (typeof ENTRIES)[number];
const isCore = (entry: Entry): boolean => entry.name === '#rsm';

function configFor(entry: Entry): ExtractorConfig {
  const configObject: IConfigFile = {
    projectFolder: root,
    mainEntryPointFilePath: join(dtsDir, entry.dts),
    compiler: {
      // Only the library's declarations (and what they import), not the monorepo's tsconfig.
      overrideTsconfig: {
        compilerOptions: { target: 'ES2023', lib: ['ES2023'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], strict: true, experimentalDecorators: true, skipLibCheck: true },
        files: ENTRIES.map((e) => join(dtsDir, e.dts)),
      },
    },
    apiReport: { enabled: true, reportFileName: `${entry.title}.api.md`, reportFolder, reportTempFolder: tempFolder, includeForgottenExports: isCore(entry) },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    newlineKind: 'lf',
    messages: {
      compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Error } },
      extractorMessageReporting: {
        default: { logLevel: ExtractorLogLevel.Warning },
        // Many members carry no doc comment, and a comment's {@link} may name what another entry exports.
        'ae-undocumented': { logLevel: ExtractorLogLevel.None },
        'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
        // In rsm.api.md, next to the declaration (a reviewer sees the leak); elsewhere, see main().
        'ae-forgotten-export': isCore(entry) ? { logLevel: ExtractorLogLevel.None, addToApiReportFile: true } : { logLevel: ExtractorLogLevel.None },
        // The library uses no release tags (@public, @beta...): every exported name is public.
        'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
      },
      // Doc comments are plain JSDoc, not TSDoc: do not lint them here.
      tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
    },
  };
  return ExtractorConfig.prepare({ configObject, configObjectFullPath: undefined, packageJson: { name: entry.title, version: '0.0.0' }, packageJsonFullPath: join(root, 'package.json') });
}

function main(): number {
  const missing = ENTRIES.map((e) => join(dtsDir, e.dts)).filter((file) => !existsSync(file));
  if (missing.length > 0) {
    console.error(`API report: ${missing.map((f) => relative(root, f)).join(', ')} missing: run \`npm run build\` first (it emits the declarations)`);
    return 1;
  }
  const configs = ENTRIES.map((entry) => ({ entry, config: configFor(entry) }));
  const first = configs[0];
  if (first === undefined) return 1;
  const compilerState = CompilerState.create(first.config, { additionalEntryPoints: configs.map((c) => c.config.mainEntryPointFilePath) });
  // What `#rsm` exports: the other entries' signatures may use these freely (rsm.api.md has them).
  const program = compilerState.program as ts.Program; // typed `unknown` by API Extractor, which bundles no compiler types
  const checker = program.getTypeChecker();
  const coreFile = program.getSourceFile(first.config.mainEntryPointFilePath);
  const coreModule = coreFile === undefined ? undefined : checker.getSymbolAtLocation(coreFile);
  const coreExports = new Set(coreModule === undefined ? [] : checker.getExportsOfModule(coreModule).map((s) => s.name));
  const unexported = new Set<string>();
  const stale: string[] = [];
  let updated = 0;
  let problems = 0;
  for (const { entry, config } of configs) {
    const reportPath = relative(root, join(reportFolder, `${entry.title}.api.md`));
    const result = Extractor.invoke(config, {
      compilerState,
      localBuild: update,
      printApiReportDiff: !update,
      messageCallback: (message: ExtractorMessage) => {
        message.handled = true;
        if (message.messageId === 'ae-forgotten-export') {
          const symbol = /The symbol "([^"]+)"/.exec(message.text)?.[1];
          if (!isCore(entry) && symbol !== undefined && !coreExports.has(symbol)) unexported.add(`${symbol} (${entry.name})`);
        } else if (message.messageId === 'console-api-report-diff') console.error(`\n${entry.name}: ${message.text}`);
        else if (message.messageId === 'console-api-report-not-copied') stale.push(reportPath);
        else if (message.messageId === 'console-api-report-copied' || message.messageId === 'console-api-report-created') {
          updated += 1;
          console.log(`updated ${reportPath}`);
        } else if (message.logLevel === ExtractorLogLevel.Error || message.logLevel === ExtractorLogLevel.Warning) {
          // Anything else API Extractor warns about (a declaration that does not compile, an unresolved reference) fails too.
          problems += 1;
          console.error(`${entry.name}: ${message.logLevel}: ${message.formatMessageWithLocation(root)}`);
        }
      },
    });
    if (result.errorCount > 0 && problems === 0) problems += 1;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (problems > 0) {
    console.error(`API report: API Extractor reported problems (above) (${seconds} s)`);
    return 1;
  }
  if (stale.length > 0) {
    console.error(
      `\nThe public API of libs/rsm changed: ${stale.join(', ')} ${stale.length === 1 ? 'does' : 'do'} not match what the entries export (diff above).\n` +
        'If the change is intended, run `npm run api:report` and commit the updated report with it;\n' +
        'if not, undo it: the entries are libs/rsm/src/index.ts, nest/index.ts and testing/index.ts (see the README, "Public API").',
    );
    return 1;
  }
  if (update && unexported.size > 0) {
    console.log(`Types the signatures of #rsm/nest and #rsm/testing use that no entry exports: ${[...unexported].sort().join(', ')}`);
  }
  console.log(`API report: ${updated > 0 ? `${updated} updated` : 'up to date'} for ${ENTRIES.map((e) => e.name).join(', ')} (${seconds} s)`);
  return 0;
}

process.exitCode = main();
