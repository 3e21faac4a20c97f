/**
 * The console's only script, served at /console.js. Progressive: every page works without it; it adds
 * add/remove buttons for mapping rows, live "Custom field N" labels, the array-target warning, copy
 * buttons and confirmations.
 */
export const js = String.raw`(() => {
"use strict";
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

for (const el of $$("[data-js]")) el.hidden = false;

function customLabel(input) {
	const label = input.closest("td, .field")?.querySelector(".custom-label");
	if (!label) return;
	const n = Number(input.value);
	label.textContent = Number.isInteger(n) && n >= 1 && n <= 150 ? "→ Custom field " + n + " (custom" + n + ")" : "Enter a number from 1 to 150";
}

function arrayWarning(select) {
	const warn = select.closest("td")?.querySelector(".array-warning");
	const opt = select.selectedOptions[0];
	if (warn) warn.hidden = !(opt && opt.dataset.array === "1");
}

document.addEventListener("input", (e) => {
	const t = e.target;
	if (t instanceof HTMLInputElement && t.matches("[data-mapping-id]")) customLabel(t);
});
document.addEventListener("change", (e) => {
	const t = e.target;
	if (t instanceof HTMLSelectElement && t.matches("[data-target-select]")) arrayWarning(t);
});

document.addEventListener("click", async (e) => {
	const t = e.target instanceof Element ? e.target.closest("button") : null;
	if (!t) return;
	if (t.dataset.addRow) {
		const kind = t.dataset.addRow;
		const body = document.getElementById("rows-" + kind);
		const tpl = document.getElementById("tpl-" + kind);
		if (!body || !(tpl instanceof HTMLTemplateElement)) return;
		const i = Number(body.dataset.next || body.children.length);
		body.dataset.next = String(i + 1);
		body.insertAdjacentHTML("beforeend", tpl.innerHTML.replaceAll("__i__", String(i)));
		for (const el of $$("[data-js]", body.lastElementChild)) el.hidden = false;
		body.lastElementChild?.querySelector("input, select")?.focus();
	} else if (t.matches("[data-remove-row]")) {
		t.closest("tr")?.remove();
	} else if (t.dataset.copy) {
		const src = document.getElementById(t.dataset.copy);
		if (!src) return;
		try {
			await navigator.clipboard.writeText(src.textContent.trim());
			const was = t.textContent;
			t.textContent = "Copied ✓";
			setTimeout(() => { t.textContent = was; }, 1500);
		} catch { /* clipboard refused: the value stays selectable */ }
	}
});

document.addEventListener("submit", (e) => {
	const f = e.target;
	if (f instanceof HTMLFormElement && f.dataset.confirm && !confirm(f.dataset.confirm)) e.preventDefault();
});

for (const s of $$("[data-target-select]")) arrayWarning(s);
})();
`;
