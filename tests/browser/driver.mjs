// Drives Debian's chromium for tests/browser/dashboard.py, through
// playwright-core: one JSON command per line on stdin, one JSON answer per
// line on stdout.  The test logic stays in Python, beside the harness that
// starts gpiows (tests/sys/gpiows_test.py); this only runs the browser.
//
// First line out: {"ready":true} or {"ready":false,"reason":"..."}.
// Commands: {"id":N,"cmd":"open"|"goto"|"eval"|"wait"|"click"|"fill"|
// "press"|"select"|"screenshot"|"viewport"|"axe"|"errors"|"close"|"quit",...};
// answers: {"id":N,"ok":true,"value":...} or {"id":N,"ok":false,"error":"..."}.
//
// Environment: GPIOWS_NODE_MODULES, the node_modules holding playwright-core
// and axe-core (tests/browser/node_modules by default); GPIOWS_CHROMIUM, the browser
// (/usr/bin/chromium).
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const nm = process.env.GPIOWS_NODE_MODULES || path.join(here, "node_modules");
const chromium = process.env.GPIOWS_CHROMIUM || "/usr/bin/chromium";

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + "\n");
}

let pw;
try {
	pw = createRequire(import.meta.url)(path.join(nm, "playwright-core"));
} catch (e) {
	out({ ready: false, reason: "no playwright-core in " + nm +
	    " (npm ci --prefix tests/browser, or set GPIOWS_NODE_MODULES)" });
	process.exit(0);
}
if (!existsSync(chromium)) {
	out({ ready: false, reason: chromium + " not found (apt-get install chromium)" });
	process.exit(0);
}

let browser;
try {
	browser = await pw.chromium.launch({
		executablePath: chromium,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		    "--disable-background-networking", "--disable-component-update",
		    "--disable-sync"],
	});
} catch (e) {
	out({ ready: false, reason: "chromium does not start: " + String(e.message).split("\n")[0] });
	process.exit(0);
}

const pages = new Map();	// name -> { context, page, errors }

function pageOf(name) {
	const p = pages.get(name);
	if (p === undefined)
		throw new Error("no page named " + name);
	return p.page;
}

const commands = {
	async open(c) {
		const context = await browser.newContext({
			viewport: { width: c.width || 1280, height: c.height || 800 },
			colorScheme: c.colorScheme || "light",
		});
		const page = await context.newPage();
		page.setDefaultTimeout(c.timeout || 10000);
		const entry = { context, page, errors: [], requests: [] };
		page.on("request", (r) => entry.requests.push(r.url()));
		page.on("pageerror", (e) => entry.errors.push("pageerror: " + e.message));
		page.on("console", (m) => {
			if (m.type() === "error")
				entry.errors.push("console: " + m.text());
		});
		pages.set(c.page, entry);
		if (c.url)
			await page.goto(c.url);
		return null;
	},
	async goto(c) {
		await pageOf(c.page).goto(c.url);
		return null;
	},
	async eval(c) {
		return await pageOf(c.page).evaluate(c.expr);
	},
	/*
	 * The page's Content-Security-Policy forbids eval, which
	 * waitForFunction's string predicates use: the expression is
	 * evaluated from here instead, every 10 ms, as eval is.
	 */
	async wait(c) {
		const page = pageOf(c.page);
		const until = Date.now() + (c.timeout || 10000);
		for (;;) {
			const v = await page.evaluate(c.expr);
			if (v)
				return v;
			if (Date.now() > until)
				throw new Error("Timeout " + (c.timeout || 10000) +
				    "ms exceeded waiting for " + c.expr);
			await new Promise((r) => setTimeout(r, 10));
		}
	},
	async click(c) {
		await pageOf(c.page).click(c.selector, { timeout: c.timeout });
		return null;
	},
	async fill(c) {
		await pageOf(c.page).fill(c.selector, c.value);
		return null;
	},
	async press(c) {
		if (c.selector)
			await pageOf(c.page).press(c.selector, c.key);
		else
			await pageOf(c.page).keyboard.press(c.key);
		return null;
	},
	async select(c) {
		await pageOf(c.page).selectOption(c.selector, c.value);
		return null;
	},
	async screenshot(c) {
		await pageOf(c.page).screenshot({ path: c.path, fullPage: c.fullPage !== false });
		return null;
	},
	async viewport(c) {
		await pageOf(c.page).setViewportSize({ width: c.width, height: c.height });
		return null;
	},
	/*
	 * axe-core's WCAG 2.1 A and AA rules on the page as it is: the
	 * violations, each with its rule, impact and the first few elements.
	 */
	async axe(c) {
		const page = pageOf(c.page);
		/* Not a script tag, which the page's policy would refuse. */
		if (!await page.evaluate("typeof axe !== 'undefined'"))
			await page.evaluate(readFileSync(path.join(nm, "axe-core",
			    "axe.min.js"), "utf8"));
		return await page.evaluate(async () => {
			const r = await axe.run(document, { runOnly: { type: "tag",
			    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
			return r.violations.map((v) => ({ id: v.id, impact: v.impact,
			    nodes: v.nodes.length,
			    targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
		});
	},
	async errors(c) {
		return pages.get(c.page)?.errors || [];
	},
	async requests(c) {
		return pages.get(c.page)?.requests || [];
	},
	async close(c) {
		const p = pages.get(c.page);
		if (p !== undefined) {
			pages.delete(c.page);
			await p.context.close();
		}
		return p?.errors || [];
	},
};

out({ ready: true, version: browser.version() });

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
	let c;
	try {
		c = JSON.parse(line);
	} catch (e) {
		out({ ok: false, error: "bad command line" });
		continue;
	}
	if (c.cmd === "quit")
		break;
	try {
		const f = commands[c.cmd];
		if (f === undefined)
			throw new Error("unknown command " + c.cmd);
		out({ id: c.id, ok: true, value: await f(c) ?? null });
	} catch (e) {
		out({ id: c.id, ok: false, error: String(e.message || e) });
	}
}
await browser.close();
process.exit(0);
