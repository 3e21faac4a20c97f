/** The console's one stylesheet, served at /console.css (a file, so the CSP needs no inline styles). */
export const css = String.raw`
:root {
	--bg: #f5f6f8;
	--surface: #ffffff;
	--border: #e2e5ea;
	--border-strong: #cfd4dc;
	--text: #1c2230;
	--muted: #5d6678;
	--faint: #8a92a3;
	--accent: #4453c8;
	--accent-hover: #3643ad;
	--accent-soft: #eef0fc;
	--ok: #17784a; --ok-soft: #e4f5ec;
	--warn: #8a5800; --warn-soft: #fff3d9;
	--bad: #b42318; --bad-soft: #fdecea;
	--info-soft: #eaf2fd; --info: #1f5fb0;
	--c-delivered: #2f9e68; --c-superseded: #9aa6b8; --c-pending: #e0a020; --c-failed: #d64545; --c-rejected: #8e3b9e; --c-skipped: #c9ced8;
	--radius: 10px;
	--shadow: 0 1px 2px rgba(20, 28, 45, .05), 0 1px 1px rgba(20, 28, 45, .03);
	--mono: ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Consolas, monospace;
	color-scheme: light;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { -webkit-text-size-adjust: 100%; }
body {
	margin: 0; background: var(--bg); color: var(--text);
	font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
	-webkit-font-smoothing: antialiased;
}
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: var(--mono); font-size: .88em; }
code { background: #f0f2f5; border: 1px solid var(--border); border-radius: 5px; padding: .05em .35em; }
h1, h2, h3 { line-height: 1.25; margin: 0; font-weight: 620; letter-spacing: -.01em; }
h1 { font-size: 1.6rem; }
h2 { font-size: 1.1rem; }
h3 { font-size: .98rem; }
p { margin: .4rem 0 .8rem; }
.muted { color: var(--muted); }
.faint { color: var(--faint); }
.small { font-size: .86rem; }
.nowrap { white-space: nowrap; }
.right { text-align: right; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* Top bar */
.topbar { background: var(--surface); border-bottom: 1px solid var(--border); }
.topbar-inner { max-width: 1120px; margin: 0 auto; padding: 0 24px; height: 56px; display: flex; align-items: center; gap: 28px; }
.brand { display: flex; align-items: center; gap: 10px; font-weight: 650; color: var(--text); letter-spacing: -.01em; }
.brand:hover { text-decoration: none; }
.brand svg { display: block; }
.topnav { display: flex; gap: 4px; flex: 1; }
.topnav a { color: var(--muted); padding: 6px 10px; border-radius: 7px; font-weight: 520; }
.topnav a:hover, .topnav a[aria-current="page"] { color: var(--text); background: #f0f2f6; text-decoration: none; }
.topbar form { margin: 0; }

.container { max-width: 1120px; margin: 0 auto; padding: 28px 24px 64px; }
.footer { max-width: 1120px; margin: 0 auto; padding: 0 24px 32px; color: var(--faint); font-size: .82rem; }

/* Page header */
.crumbs { font-size: .86rem; color: var(--muted); margin-bottom: 6px; }
.crumbs a { color: var(--muted); }
.page-head { display: flex; align-items: flex-start; justify-content: space-between; gap: 16px; margin-bottom: 20px; }
.page-head .title-row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.page-head p { margin: 4px 0 0; color: var(--muted); }
.tabs { display: flex; gap: 2px; border-bottom: 1px solid var(--border); margin: 0 0 24px; overflow-x: auto; }
.tabs a { padding: 10px 14px; color: var(--muted); font-weight: 540; border-bottom: 2px solid transparent; margin-bottom: -1px; white-space: nowrap; }
.tabs a:hover { color: var(--text); text-decoration: none; }
.tabs a[aria-current="page"] { color: var(--accent); border-bottom-color: var(--accent); }

/* Cards and grid */
.card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); box-shadow: var(--shadow); padding: 20px 22px; margin-bottom: 20px; }
.card > h2 { margin-bottom: 4px; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; margin-bottom: 12px; }
.card-head p { margin: 2px 0 0; }
.card.flush { padding: 0; }
.card.flush .card-head { padding: 18px 22px 0; }
.grid { display: grid; gap: 20px; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
.grid.main-side { grid-template-columns: minmax(0, 2fr) minmax(280px, 1fr); align-items: start; }
@media (max-width: 860px) { .grid.main-side { grid-template-columns: 1fr; } }
.stack > * + * { margin-top: 12px; }

/* Badges */
.badge { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px 2px 8px; border-radius: 999px; font-size: .8rem; font-weight: 600; line-height: 1.6; white-space: nowrap; border: 1px solid transparent; }
.badge::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.badge.ok { color: var(--ok); background: var(--ok-soft); border-color: #bfe6d0; }
.badge.warn { color: var(--warn); background: var(--warn-soft); border-color: #f3dca4; }
.badge.bad { color: var(--bad); background: var(--bad-soft); border-color: #f5c6c0; }
.badge.neutral { color: var(--muted); background: #eef0f3; border-color: var(--border); }
.badge.info { color: var(--info); background: var(--info-soft); border-color: #c9dcf6; }
.badges { display: inline-flex; gap: 6px; flex-wrap: wrap; }

/* Callouts */
.callout { border-radius: var(--radius); padding: 12px 16px; margin: 0 0 20px; border: 1px solid; display: flex; gap: 12px; align-items: flex-start; }
.callout p { margin: 2px 0; }
.callout strong { font-weight: 640; }
.callout.ok { background: var(--ok-soft); border-color: #bfe6d0; color: #0f5132; }
.callout.warn { background: var(--warn-soft); border-color: #f3dca4; color: #6b4500; }
.callout.bad { background: var(--bad-soft); border-color: #f5c6c0; color: #8a1c12; }
.callout.info { background: var(--info-soft); border-color: #c9dcf6; color: #1a4a85; }
.callout .icon { flex: none; margin-top: 2px; }
.callout ul { margin: 4px 0 0; padding-left: 18px; }

/* Buttons */
.btn { display: inline-flex; align-items: center; justify-content: center; gap: 8px; padding: 8px 16px; border-radius: 8px; border: 1px solid var(--border-strong); background: var(--surface); color: var(--text); font: inherit; font-weight: 560; font-size: .92rem; cursor: pointer; line-height: 1.3; white-space: nowrap; }
.btn:hover { background: #f4f5f8; text-decoration: none; }
.btn:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid rgba(68, 83, 200, .35); outline-offset: 1px; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.primary:hover { background: var(--accent-hover); }
.btn.danger { color: var(--bad); border-color: #efb8b1; }
.btn.danger:hover { background: var(--bad-soft); }
.btn.small { padding: 4px 10px; font-size: .84rem; }
.btn.link { border: none; background: none; color: var(--muted); padding: 6px 8px; }
.btn.link:hover { color: var(--text); background: #f0f2f6; }
.actions { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-top: 16px; }
form.inline { display: inline; margin: 0; }

/* Forms */
.field { margin-bottom: 16px; }
.field label, .label { display: block; font-weight: 580; font-size: .9rem; margin-bottom: 5px; }
.field .hint { color: var(--muted); font-size: .84rem; margin: 4px 0 0; }
input[type="text"], input[type="password"], input[type="url"], input[type="number"], select, textarea {
	width: 100%; font: inherit; font-size: .94rem; color: var(--text); background: #fff;
	border: 1px solid var(--border-strong); border-radius: 8px; padding: 8px 11px; transition: border-color .12s;
}
input:hover, select:hover, textarea:hover { border-color: #b5bcc8; }
textarea { min-height: 72px; resize: vertical; }
input[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--bad); background: #fffafa; }
.error-text { color: var(--bad); font-size: .84rem; margin: 4px 0 0; font-weight: 520; }
.warn-text { color: var(--warn); font-size: .84rem; margin: 4px 0 0; }
.check, .field label.check { display: flex; gap: 10px; align-items: flex-start; font-weight: 500; }
.check input { margin-top: 4px; width: 16px; height: 16px; accent-color: var(--accent); }
.check span small { display: block; color: var(--muted); font-weight: 400; }
fieldset { border: none; padding: 0; margin: 0; }
legend { padding: 0; }

/* Mapping rows */
.map-table { width: 100%; border-collapse: separate; border-spacing: 0; table-layout: fixed; margin: 0 -8px; width: calc(100% + 16px); }
.map-table .w-name { width: 30%; } .map-table .w-mapping-id { width: 168px; } .map-table .w-actions { width: 40px; }
.map-table .w-arrow { width: 28px; } .map-table .w-target { width: 44%; }
.map-table th { text-align: left; font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; padding: 0 8px 6px; }
.map-table td { padding: 6px 8px; vertical-align: top; }
.map-table td.arrow { color: var(--faint); padding: 14px 0 0; text-align: center; }
.map-table td.row-actions { padding: 8px 0 0; text-align: center; }
.map-table .mapping-id { max-width: 120px; }
.custom-label { display: block; font-size: .8rem; color: var(--muted); margin-top: 4px; }
.identity-row { display: grid; grid-template-columns: minmax(0, 1fr) 24px minmax(0, 1fr); gap: 8px 8px; align-items: start; }
.identity-row .arrow { color: var(--faint); text-align: center; padding-top: 9px; }
.target-fixed { display: flex; align-items: center; gap: 8px; border: 1px dashed var(--border-strong); border-radius: 8px; padding: 8px 11px; background: #fafbfc; font-weight: 560; }
.status-words { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.remove-row { border: none; background: none; color: var(--faint); cursor: pointer; font-size: 1.1rem; line-height: 1; padding: 6px; border-radius: 6px; }
.remove-row:hover { color: var(--bad); background: var(--bad-soft); }

/* Tables */
.table { width: 100%; border-collapse: collapse; font-size: .92rem; }
.table th { text-align: left; font-size: .76rem; text-transform: uppercase; letter-spacing: .045em; color: var(--muted); font-weight: 620; padding: 10px 14px; border-bottom: 1px solid var(--border); background: #fafbfc; white-space: nowrap; }
.table td { padding: 12px 14px; border-bottom: 1px solid var(--border); vertical-align: top; }
.table tr:last-child td { border-bottom: none; }
.table td.num, .table th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table .name { font-weight: 600; }
.table tbody tr:hover { background: #fbfbfd; }
.table-wrap { overflow-x: auto; }

/* Definition table (AEP set-up) */
.kv { width: 100%; border-collapse: collapse; }
.kv th { text-align: left; width: 34%; font-weight: 580; padding: 11px 14px 11px 0; vertical-align: top; border-bottom: 1px solid var(--border); }
.kv td { padding: 9px 0; border-bottom: 1px solid var(--border); vertical-align: top; }
.kv tr:last-child th, .kv tr:last-child td { border-bottom: none; }
.copy-field { display: flex; gap: 8px; align-items: stretch; }
.copy-field output, .copy-field .value { flex: 1; font-family: var(--mono); font-size: .86rem; background: #f5f6f9; border: 1px solid var(--border); border-radius: 8px; padding: 7px 10px; word-break: break-all; }
.secret { background: #fffbea !important; border-color: #f0d98a !important; }
pre.code { background: #1d2333; color: #e5e9f2; border-radius: 8px; padding: 14px 16px; overflow-x: auto; font: .84rem/1.55 var(--mono); margin: 8px 0 0; }

/* Stats */
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 12px; margin-bottom: 20px; }
.stat { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 12px 14px; box-shadow: var(--shadow); }
.stat .label { font-size: .76rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); font-weight: 620; display: flex; align-items: center; gap: 6px; margin: 0; }
.stat .value { font-size: 1.55rem; font-weight: 640; font-variant-numeric: tabular-nums; letter-spacing: -.02em; margin-top: 2px; }
.stat.primary { border-color: #c9cff3; background: linear-gradient(180deg, #fff, #f7f8ff); }
.swatch { width: 9px; height: 9px; border-radius: 2px; display: inline-block; flex: none; }
.sw-delivered { background: var(--c-delivered); } .sw-superseded { background: var(--c-superseded); } .sw-pending { background: var(--c-pending); }
.sw-failed { background: var(--c-failed); } .sw-rejected { background: var(--c-rejected); } .sw-skipped { background: var(--c-skipped); } .sw-held { background: repeating-linear-gradient(45deg, var(--c-pending), var(--c-pending) 2px, transparent 2px, transparent 4px); }

/* Chart */
.chart { width: 100%; height: auto; display: block; }
.chart .grid-line { stroke: #edf0f4; stroke-width: 1; }
.chart .axis-label { fill: var(--faint); font-size: 11px; font-family: system-ui, sans-serif; }
.chart .bar-delivered { fill: var(--c-delivered); } .chart .bar-superseded { fill: var(--c-superseded); } .chart .bar-pending { fill: var(--c-pending); }
.chart .bar-failed { fill: var(--c-failed); } .chart .bar-rejected { fill: var(--c-rejected); } .chart .bar-skipped { fill: var(--c-skipped); }
.chart .hover-col { fill: transparent; } .chart .hover-col:hover { fill: rgba(68, 83, 200, .06); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: .82rem; color: var(--muted); margin-top: 10px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }

/* Budget meter */
.meter { height: 10px; border-radius: 999px; background: #edf0f4; overflow: hidden; margin: 8px 0 6px; }
.meter svg { display: block; width: 100%; height: 10px; }
.meter .fill { fill: var(--accent); } .meter .fill.high { fill: var(--c-pending); } .meter .fill.full { fill: var(--c-failed); }
.facts { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 8px 16px; font-size: .92rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 540; text-align: right; font-variant-numeric: tabular-nums; }

/* Checklist */
.checklist { list-style: none; margin: 0; padding: 0; }
.checklist li { display: flex; gap: 14px; padding: 14px 0; border-bottom: 1px solid var(--border); align-items: flex-start; }
.checklist li:last-child { border-bottom: none; padding-bottom: 0; }
.checklist li:first-child { padding-top: 4px; }
.step { flex: none; width: 28px; height: 28px; border-radius: 50%; display: grid; place-items: center; font-weight: 650; font-size: .85rem; background: #eef0f3; color: var(--muted); border: 1px solid var(--border); }
.step.done { background: var(--ok-soft); color: var(--ok); border-color: #bfe6d0; }
.step.todo { background: var(--accent-soft); color: var(--accent); border-color: #cdd2f6; }
.checklist .body { flex: 1; min-width: 0; }
.checklist .body p { margin: 2px 0 0; color: var(--muted); font-size: .9rem; }
.checklist .go { flex: none; align-self: center; }

/* Empty states */
.empty { text-align: center; padding: 48px 24px; }
.empty .empty-icon { margin: 0 auto 14px; width: 56px; height: 56px; border-radius: 16px; background: var(--accent-soft); display: grid; place-items: center; color: var(--accent); }
.empty h2 { font-size: 1.15rem; margin-bottom: 6px; }
.empty p { color: var(--muted); max-width: 460px; margin: 0 auto 18px; }
.empty.compact { padding: 24px 16px; }
.empty.compact p { margin-bottom: 0; }

/* Connection */
.connection { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
.connection .who { font-weight: 600; }
.avatar { width: 38px; height: 38px; border-radius: 50%; background: var(--accent-soft); color: var(--accent); display: grid; place-items: center; font-weight: 700; flex: none; }

/* Sign-in */
.signin-wrap { min-height: 100vh; display: grid; place-items: center; padding: 24px; background: radial-gradient(1200px 600px at 50% -10%, #e7eafb 0%, var(--bg) 60%); }
.signin { width: 100%; max-width: 420px; }
.signin .brand { justify-content: center; font-size: 1.1rem; margin-bottom: 18px; }
.signin .card { padding: 28px; }
.signin h1 { font-size: 1.3rem; margin-bottom: 4px; }
.signin .btn { width: 100%; padding: 10px 16px; }

/* The OAuth callback's refusal page (src/oauth/callback.ts): this stylesheet, since its CSP allows no inline style */
.callback-page { max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }

.danger-zone { border-color: #f1cdc8; }
details.help { margin-top: 10px; }
details.help summary { cursor: pointer; color: var(--accent); font-weight: 540; font-size: .9rem; }
.kbd { font-family: var(--mono); font-size: .8rem; border: 1px solid var(--border-strong); border-bottom-width: 2px; border-radius: 4px; padding: 0 4px; background: #fff; }
.reason { max-width: 460px; }
.pill { display: inline-block; background: #eef0f3; border-radius: 6px; padding: 0 6px; font-family: var(--mono); font-size: .8rem; margin: 0 4px 2px 0; }
/* Roles: what the signed-in role may not do is not offered (the API refuses it anyway). */
[data-role="view"] [data-needs="activate"], [data-role="view"] [data-needs="manage"], [data-role="activate"] [data-needs="manage"] { display: none !important; }
`;
