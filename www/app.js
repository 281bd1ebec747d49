/*
 * The gpiows dashboard: one page, plain JavaScript, no build step, nothing
 * from outside the board.  The protocol is gpiows-protocol(7).
 *
 * State comes only from the server: the "hello" of each connection, then
 * "pin", "users" and "mission" messages.  After a reconnect the page asks
 * for the changes it missed with "resume", so its timing diagram has every
 * change exactly once; when the server no longer keeps them, the diagram
 * shows the hole instead of drawing a line through it.
 */
"use strict";

(function () {
	const $ = (id) => document.getElementById(id);
	const WINDOW_US = 30e6;		/* what the diagram shows */
	const KEEP_US = 35e6;		/* what it keeps, for the scroll */
	const REPLY_TIMEOUT_MS = 10000;
	const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000];
	const HISTORY = 3000;		/* changes a new page asks for */
	const QUIET_MAX_MS = 15000;	/* longest silence before a ping */

	const st = {
		ws: null,
		conn: "connecting",	/* connecting, connected, disconnected */
		gotHello: false,	/* on the current connection */
		everConnected: false,
		pins: [],		/* hello order */
		byName: new Map(),	/* name -> pin object */
		cards: new Map(),	/* name -> card elements */
		missions: new Map(),	/* id -> mission object */
		users: null,
		lastSeq: null,		/* highest seq applied */
		floor: null,		/* seqs at or below it are not kept */
		resuming: false,
		initial: true,		/* the first history is loading */
		nextId: 1,
		pending: new Map(),	/* request id -> what, resolve, timer */
		events: [],		/* diagram events, sorted by seq */
		base: new Map(),	/* pin -> value before events[0] */
		knownFrom: new Map(),	/* pin -> server us since when the
					 * diagram knows its level */
		gaps: [],		/* {from, to} server us without data */
		downSince: null,	/* server us when the link was lost */
		skew: null,		/* local us - server us, smallest seen */
		attempts: 0,
		timer: null,
		quietMs: QUIET_MAX_MS,	/* silence after which to ping */
		heardAt: 0,		/* performance.now() of the last message */
		pingedAt: null,		/* when the unanswered ping went */
		reconnects: 0,
		doubled: 0,		/* pin messages dropped as already had */
		missed: 0,		/* times changes were lost (history_gone) */
		frames: 0,
		maxFrameGap: 0,
		editorError: null,
	};

	/* ---------------------------------------------------------- utilities */

	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		for (const k in attrs || {}) {
			const v = attrs[k];
			if (v === null || v === undefined || v === false)
				continue;
			if (k === "class")
				e.className = v;
			else if (k === "text")
				e.textContent = v;
			else if (k.startsWith("on"))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k, v === true ? "" : v);
		}
		for (const c of kids)
			if (c !== null && c !== undefined)
				e.append(c);
		return e;
	}

	function nowUs() {
		return Date.now() * 1000;
	}

	/* The server's clock, which on a board without network may be far off. */
	function serverNowUs() {
		return nowUs() - (st.skew === null ? 0 : st.skew);
	}

	function pad(n, w) {
		return String(n).padStart(w, "0");
	}

	function clock(us) {
		const d = new Date(us / 1000);
		return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" +
		    pad(d.getSeconds(), 2) + "." + pad(d.getMilliseconds(), 3);
	}

	function duration(us) {
		const s = us / 1e6;
		if (s < 10)
			return s.toFixed(1) + " s";
		if (s < 120)
			return Math.round(s) + " s";
		const m = Math.floor(s / 60);
		if (m < 120)
			return m + " min " + Math.round(s - m * 60) + " s";
		return Math.floor(m / 60) + " h " + (m % 60) + " min";
	}

	function sourceText(src) {
		if (src === "client")
			return "a client";
		if (src === "edge")
			return "an edge";
		if (src === "init")
			return "start-up";
		if (src === "safe")
			return "safe value";
		const m = /^mission:(\d+)$/.exec(src || "");
		if (m) {
			const mi = st.missions.get(Number(m[1]));
			return "mission " + m[1] + (mi ? " “" + mi.name + "”" : "");
		}
		return src || "?";
	}

	function announce(text) {
		const a = $("announce");
		a.textContent = "";
		setTimeout(() => { a.textContent = text; }, 50);
	}

	/* --------------------------------------------------------------- errors */

	function toast(title, message, kind) {
		const box = $("toasts");
		const t = el("div", { class: "toast " + (kind || "error") },
		    el("div", { class: "toast-body" },
			el("strong", { text: title }), " ",
			el("span", { text: message })),
		    el("button", {
			type: "button", class: "close", "aria-label": "Dismiss",
			text: "×", onclick: () => t.remove()
		    }));
		box.append(t);
		while (box.children.length > 4)
			box.firstElementChild.remove();
		setTimeout(() => t.remove(), kind === "info" ? 8000 : 20000);
	}

	function reportError(what, err) {
		const code = err && err.code ? " (" + err.code + ")" : "";
		toast(what + " failed" + code + ":",
		    (err && err.message) || "no reason given");
	}

	/* ----------------------------------------------------------- connection */

	function wsURL() {
		return (location.protocol === "https:" ? "wss://" : "ws://") +
		    location.host + "/ws";
	}

	function setConn(c) {
		st.conn = c;
		document.body.dataset.conn = c;
		const text = {
			connecting: st.everConnected ? "Reconnecting…" : "Connecting…",
			connected: "Connected",
			disconnected: "Disconnected",
		}[c];
		$("conn-text").textContent = text;
		const down = c !== "connected" && (st.everConnected || st.attempts > 0);
		$("banner").hidden = !down;
		/* Offline controls stay focusable (a reconnect does not move
		 * the keyboard's place) but say they do nothing; a held output
		 * cannot be switched at all. */
		for (const b of document.querySelectorAll("[data-needs-conn]")) {
			b.disabled = b.dataset.held === "1";
			b.setAttribute("aria-disabled", c === "connected" ? "false" : "true");
		}
	}

	function connect() {
		clearTimeout(st.timer);
		st.timer = null;
		setConn("connecting");
		let ws;
		try {
			ws = new WebSocket(wsURL());
		} catch (e) {
			lost();
			return;
		}
		st.ws = ws;
		st.gotHello = false;
		st.heardAt = performance.now();
		st.pingedAt = null;
		ws.onmessage = (e) => {
			if (st.ws !== ws)
				return;
			st.heardAt = performance.now();
			st.pingedAt = null;
			onMessage(e.data);
		};
		ws.onclose = () => {
			if (st.ws !== ws)
				return;
			st.ws = null;
			lost();
		};
	}

	/*
	 * A server that is stopped, or cut off without a close (a board
	 * unplugged, a network that dropped), leaves the socket open and
	 * silent for as long as TCP cares to wait.  So: after quietMs
	 * without a message, a ping; after as long again, or with no hello
	 * within twice that, the connection is taken as lost, like the server
	 * does with its clients (gpiows-protocol(7), "ping").
	 */
	function heartbeat() {
		const ws = st.ws;
		if (ws === null)
			return;
		const now = performance.now();
		const quiet = now - st.heardAt;
		if ((st.pingedAt !== null && now - st.pingedAt >= st.quietMs) ||
		    (!st.gotHello && quiet >= 2 * st.quietMs)) {
			st.ws = null;	/* its handlers ignore it from now on */
			ws.close();
			/* The banner's "since": when it was last heard. */
			if (st.gotHello && st.downSince === null)
				st.downSince = serverNowUs() - quiet * 1000;
			lost();
		} else if (st.gotHello && st.pingedAt === null &&
		    quiet >= st.quietMs && ws.readyState === WebSocket.OPEN) {
			st.pingedAt = now;
			ws.send('{"op":"ping"}');
		}
	}

	function lost() {
		const wasUp = st.gotHello;
		st.gotHello = false;
		st.resuming = false;
		if (wasUp && st.downSince === null)
			st.downSince = serverNowUs();
		for (const [id, p] of st.pending) {
			clearTimeout(p.timer);
			if (!p.quiet)
				reportError(p.what, {
				    code: "connection_lost",
				    message: "the connection was lost before the answer came: it may or may not have been done"
				});
			p.resolve({ ok: false, error: { code: "connection_lost" } });
			st.pending.delete(id);
		}
		const delay = BACKOFF_MS[Math.min(st.attempts, BACKOFF_MS.length - 1)];
		st.attempts++;
		setConn("disconnected");
		const since = st.downSince === null ? "" :
		    " since " + clock(st.downSince + (st.skew || 0)).slice(0, 8);
		$("banner-text").textContent = "Disconnected from gpiows" + since +
		    ". Reconnecting automatically (attempt " + st.attempts + ")…";
		st.timer = setTimeout(connect, delay);
	}

	function request(msg, what, opts) {
		opts = opts || {};
		return new Promise((resolve) => {
			if (st.ws === null || st.ws.readyState !== WebSocket.OPEN ||
			    !st.gotHello) {
				const err = { code: "offline",
				    message: "not connected to gpiows: nothing was sent" };
				if (!opts.quiet)
					reportError(what, err);
				resolve({ ok: false, error: err });
				return;
			}
			const id = st.nextId++;
			const timer = setTimeout(() => {
				st.pending.delete(id);
				if (!opts.quiet)
					reportError(what, { code: "timeout",
					    message: "no answer within " +
					    REPLY_TIMEOUT_MS / 1000 + " s" });
				resolve({ ok: false, error: { code: "timeout" } });
			}, REPLY_TIMEOUT_MS);
			st.pending.set(id, { what, resolve, timer, quiet: opts.quiet });
			let text = JSON.stringify(Object.assign({}, msg, { id }));
			/* The editor's mission goes as written, so that the
			 * server's error paths match the text on the screen. */
			if (opts.rawMission !== undefined)
				text = text.slice(0, -1) + ",\"mission\":" +
				    opts.rawMission + "}";
			st.ws.send(text);
		});
	}

	function onMessage(data) {
		let m;
		try {
			m = JSON.parse(data);
		} catch (e) {
			toast("The server sent a message that is not JSON:", String(data).slice(0, 80));
			return;
		}
		switch (m.type) {
		case "hello":
			onHello(m);
			break;
		case "pin":
			onPin(m);
			break;
		case "users":
			setUsers(m.count);
			break;
		case "mission":
			onMission(m.mission);
			break;
		case "reply":
			onReply(m);
			break;
		}
	}

	function onReply(m) {
		const p = m.id !== undefined ? st.pending.get(m.id) : undefined;
		if (p === undefined) {
			if (!m.ok)
				reportError("A request", m.error);
			return;
		}
		st.pending.delete(m.id);
		clearTimeout(p.timer);
		if (!m.ok && !p.quiet)
			reportError(p.what, m.error);
		p.resolve(m);
	}

	function onHello(m) {
		const first = !st.gotHello;
		st.gotHello = true;
		const every = Number.isInteger(m.ping_interval) &&
		    m.ping_interval > 0 ? m.ping_interval * 1000 : QUIET_MAX_MS;
		st.quietMs = Math.min(every, QUIET_MAX_MS);
		if (first) {
			/* Resume before anything else: the server holds live
			 * messages until this first request, so nothing is
			 * missed or sent twice. */
			st.resuming = true;
			if (st.lastSeq === null) {
				st.lastSeq = m.seq;
				history(m, m.seq - HISTORY);
			} else {
				request({ op: "resume", since: st.lastSeq }, "Catching up",
				    { quiet: true }).then((r) => resumed(r, m));
			}
			if (st.everConnected)
				st.reconnects++;
			st.everConnected = true;
			st.attempts = 0;
			setConn("connected");
		} else {
			announce("The server's configuration was reloaded.");
			toast("Configuration reloaded:", "the pins were taken afresh from the server.", "info");
			resync(m.pins, serverNowUs());
		}
		setPins(m.pins);
		st.missions = new Map();
		for (const mi of m.missions || [])
			st.missions.set(mi.id, mi);
		renderMissions();
		renderHolds();
		setUsers(m.users);
	}

	/*
	 * A page just opened draws the recent past too: the changes the
	 * server still keeps, up to HISTORY of them, asked for with the same
	 * resume.  Below the oldest one kept the answer is history_gone, which
	 * names that one (error.oldest); else try closer.  Replies to later tries
	 * may repeat live changes: they are dropped as already had.
	 */
	function history(hello, since) {
		st.floor = Math.max(0, since);
		request({ op: "resume", since: st.floor }, "Loading the recent changes",
		    { quiet: true }).then((r) => {
			if (!r.ok && r.error && r.error.code === "history_gone" &&
			    st.floor < hello.seq) {
				const oldest = Number(r.error.oldest) - 1;
				history(hello, oldest > st.floor && oldest <= hello.seq ?
				    oldest : hello.seq - Math.floor((hello.seq - st.floor) / 8));
				return;
			}
			st.initial = false;
			st.resuming = false;
			if (!r.ok) {
				if (r.error.code !== "connection_lost")
					reportError("Loading the recent changes", r.error);
				return;
			}
			/* A pin that changed is known from its first change on. */
			const seen = new Set();
			for (const e of st.events) {
				if (e.seq > hello.seq)
					break;
				if (seen.has(e.pin))
					continue;
				seen.add(e.pin);
				st.base.set(e.pin, e.value);
				st.knownFrom.set(e.pin, e.ts);
			}
		});
	}

	function resumed(r, hello) {
		st.resuming = false;
		if (r.ok) {
			if (st.downSince !== null)
				announce("Reconnected; " + r.replayed +
				    " missed changes caught up.");
			st.downSince = null;
			return;
		}
		if (r.error && r.error.code === "connection_lost")
			return;
		/* The changes are gone (or the answer did not come): keep the
		 * hole in the diagram and take the state from the hello. */
		const to = serverNowUs();
		if (st.downSince !== null)
			st.gaps.push({ from: st.downSince, to: to });
		st.downSince = null;
		st.missed++;
		/* gpiows restarted with its clock set back numbers its changes
		 * below ours: keep only the levels, in the old order. */
		if (st.events.length && hello.seq < st.events[st.events.length - 1].seq) {
			for (const e of st.events)
				st.base.set(e.pin, e.value);
			st.events = [];
		}
		st.floor = hello.seq;	/* what comes next is above it */
		toast("Some changes were missed:", r.error && r.error.code === "history_gone" ?
		    "the server no longer keeps the changes made while this page was disconnected; the pins show their state now." :
		    (r.error && r.error.message) || "the server did not replay them.", "warn");
		resync(hello.pins, to);
		st.lastSeq = Math.max(st.lastSeq, hello.seq);
	}

	/* Levels that changed with no pin message: drawn from ts on. */
	function resync(pins, ts) {
		let last = st.events.length ? st.events[st.events.length - 1].seq : st.floor;
		for (const p of pins) {
			if (st.base.has(p.name) && levelNow(p.name) !== p.value) {
				last += 0.001;
				st.events.push({ seq: last, pin: p.name, value: p.value,
				    ts: ts, synthetic: true });
			}
		}
		dg.dirty = true;
	}

	/* -------------------------------------------------------------- pins */

	/* What the cards are made of: the same after most reconnects. */
	function pinShape(pins) {
		return JSON.stringify(pins.map((p) => [p.name, p.direction,
		    !!p.simulated, !!p.active_low, p.edge || ""]));
	}

	function setPins(pins) {
		const old = st.byName;
		const same = pinShape(pins) === pinShape(st.pins);
		st.pins = pins;
		st.byName = new Map();
		for (const p of pins) {
			st.byName.set(p.name, p);
			/* A pin the diagram has not seen starts at its value,
			 * known only since its latest change. */
			if (!old.has(p.name) || !st.base.has(p.name)) {
				st.base.set(p.name, p.value);
				st.knownFrom.set(p.name, p.ts);
			}
		}
		/* Rebuilt only when they changed, so that focus stays put. */
		if (same && st.cards.size === pins.length)
			for (const p of pins)
				updateCard(p, false);
		else
			renderPins();
		fillSelects();
		resizeDiagram();
	}

	function levelNow(name) {
		for (let i = st.events.length - 1; i >= 0; i--)
			if (st.events[i].pin === name)
				return st.events[i].value;
		return st.base.get(name);
	}

	function lowerBound(seq) {
		let lo = 0, hi = st.events.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (st.events[mid].seq < seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo;
	}

	function onPin(m) {
		if (!m.replay) {
			const d = nowUs() - m.ts;
			if (st.skew === null || d < st.skew || d > st.skew + 5e6)
				st.skew = d;
		}
		if (st.floor !== null && m.seq <= st.floor) {
			if (!st.initial)
				st.doubled++;
			return;
		}
		const i = lowerBound(m.seq);
		if (i < st.events.length && st.events[i].seq === m.seq) {
			if (!st.initial)
				st.doubled++;
			return;
		}
		st.events.splice(i, 0, { seq: m.seq, pin: m.pin, value: m.value,
		    ts: m.ts, source: m.source, replay: !!m.replay });
		dg.dirty = true;
		/* A hidden tab draws nothing, so prune here too. */
		if (st.events.length % 512 === 0)
			prune(serverNowUs());
		if (st.lastSeq === null || m.seq > st.lastSeq)
			st.lastSeq = m.seq;
		const p = st.byName.get(m.pin);
		if (p === undefined || m.seq <= (p.seq || 0))
			return;
		p.value = m.value;
		p.seq = m.seq;
		p.ts = m.ts;
		p.source = m.source;
		p.read = false;
		updateCard(p, !m.replay);
	}

	function setUsers(n) {
		st.users = n;
		$("users").textContent = n + (n === 1 ? " user online" : " users online");
	}

	function holderOf(p) {
		if (p.direction !== "output")
			return null;
		for (const mi of st.missions.values())
			if (mi.state === "running" && (mi.pins || []).includes(p.name))
				return mi.id;
		/* The hello knows holds that no mission message told us. */
		if (p.mission !== undefined) {
			const mi = st.missions.get(p.mission);
			if (mi === undefined || mi.state === "running")
				return p.mission;
		}
		return null;
	}

	function renderPins() {
		const box = $("pins");
		box.textContent = "";
		st.cards.clear();
		if (st.pins.length === 0)
			box.append(el("p", { class: "muted", text: "No pins are configured." }));
		for (const p of st.pins) {
			const id = "pin-" + p.name;
			const c = {};
			c.value = el("span", { class: "vtext" });
			c.lamp = el("span", { class: "lamp", "aria-hidden": "true" });
			c.last = el("p", { class: "last small" });
			c.note = el("p", { class: "note small" });
			c.actions = el("div", { class: "actions" });
			const badges = el("span", { class: "badges" },
			    el("span", { class: "badge " + (p.direction === "output" ? "out" : "in"),
				text: p.direction }));
			if (p.simulated)
				badges.append(el("span", { class: "badge", text: "simulated",
				    title: "On the simulated chip: no hardware" }));
			if (p.active_low)
				badges.append(el("span", { class: "badge", text: "active-low" }));
			c.card = el("article", {
				class: "card " + (p.direction === "output" ? "out" : "in"),
				id: id, "aria-labelledby": id + "-name", "data-pin": p.name
			    },
			    el("div", { class: "card-head" },
				el("h3", { id: id + "-name", text: p.name }), badges),
			    el("p", { class: "value", "aria-live": p.direction === "input" ? "off" : null },
				c.lamp, c.value),
			    c.last, c.note, c.actions);
			if (p.direction === "output") {
				c.toggle = el("button", {
					type: "button", class: "toggle", role: "switch",
					"data-needs-conn": "1",
					"aria-describedby": id + "-hold",
					onclick: () => {
						/* The pin as it is now: a hello
						 * may have replaced the object. */
						const v = st.byName.get(p.name).value ? 0 : 1;
						request({ op: "set", pin: p.name, value: v },
						    "Setting " + p.name + " to " + v);
					}
				});
				c.note.id = id + "-hold";
				c.actions.append(c.toggle);
			} else {
				if (p.simulated)
					c.actions.append(pressButton(p));
				if (p.edge !== "both")
					c.actions.append(el("button", {
						type: "button", "data-needs-conn": "1",
						text: "Read", "aria-label": "Read " + p.name + " now",
						onclick: () => readPin(p)
					}));
			}
			st.cards.set(p.name, c);
			box.append(c.card);
			updateCard(p, false);
		}
		setConn(st.conn);
	}

	/* A simulated button: pressed while held, like a real one. */
	function pressButton(p) {
		let down = false;
		const level = (pressed) => (pressed ? 1 : 0) ^ (p.active_low ? 1 : 0);
		const press = () => {
			if (down)
				return;
			down = true;
			b.setAttribute("aria-pressed", "true");
			pull(p, level(true));
		};
		const release = () => {
			if (!down)
				return;
			down = false;
			b.setAttribute("aria-pressed", "false");
			pull(p, level(false));
		};
		const b = el("button", {
			type: "button", class: "press", "data-needs-conn": "1",
			"aria-pressed": "false",
			"aria-label": "Press " + p.name + " (held while the button is held)",
			text: "Press",
			onpointerdown: (e) => {
				b.setPointerCapture(e.pointerId);
				press();
			},
			onpointerup: release,
			onpointercancel: release,
			onlostpointercapture: release,
			onkeydown: (e) => {
				if ((e.key === " " || e.key === "Enter") && !e.repeat) {
					e.preventDefault();
					press();
				}
			},
			onkeyup: (e) => {
				if (e.key === " " || e.key === "Enter") {
					e.preventDefault();
					release();
				}
			},
			onblur: release,
		});
		return b;
	}

	function pull(pin, level) {
		request({ op: "sim.pull", pin: pin.name, value: level },
		    "Pulling " + pin.name + " to level " + level).then((r) => {
			const p = st.byName.get(pin.name);
			/* An edge the pin does not watch sends no message:
			 * show the value all the same. */
			if (p && r.ok && r.seq === undefined && r.value !== p.value) {
				p.value = r.value;
				p.read = true;
				p.readAt = nowUs();
				updateCard(p, false);
			}
		});
	}

	function readPin(pin) {
		request({ op: "get", pin: pin.name }, "Reading " + pin.name).then((r) => {
			const p = st.byName.get(pin.name);
			if (!r.ok || p === undefined)
				return;
			p.value = r.value;
			p.read = true;
			p.readAt = nowUs();
			updateCard(p, false);
		});
	}

	function updateCard(p, live) {
		const c = st.cards.get(p.name);
		if (c === undefined)
			return;
		c.card.dataset.value = p.value;
		c.value.textContent = p.value ? "1" : "0";
		c.value.setAttribute("aria-label", "value " + p.value);
		if (p.read)
			c.last.textContent = "Read at " + clock(p.readAt);
		else if (p.source === "init")
			c.last.textContent = "Unchanged since start-up";
		else
			c.last.textContent = "Changed " + clock(p.ts) + " by " + sourceText(p.source);
		c.last.title = "seq " + p.seq;
		if (p.direction === "input" && !p.read) {
			const watch = {
				none: "reports no edges: use Read for its value now",
				rising: "reports rising edges only",
				falling: "reports falling edges only",
			}[p.edge];
			c.note.textContent = watch ? "This input " + watch + "." : "";
		}
		if (c.toggle) {
			c.toggle.setAttribute("aria-checked", p.value ? "true" : "false");
			c.toggle.textContent = p.value ? "Switch off" : "Switch on";
			c.toggle.setAttribute("aria-label", p.name + ": " +
			    (p.value ? "on, switch off" : "off, switch on"));
		}
		if (live && p.direction === "input" && c.card.animate &&
		    !matchMedia("(prefers-reduced-motion: reduce)").matches)
			c.card.animate([{ boxShadow: "0 0 0 4px var(--edge)" },
			    { boxShadow: "0 0 0 0 transparent" }],
			    { duration: 500, easing: "ease-out" });
		if (live && p.direction === "input")
			c.card.dataset.edges = Number(c.card.dataset.edges || 0) + 1;
	}

	function renderHolds() {
		for (const p of st.pins) {
			const c = st.cards.get(p.name);
			if (c === undefined || c.toggle === undefined)
				continue;
			const h = holderOf(p);
			c.toggle.dataset.held = h === null ? "0" : "1";
			c.card.classList.toggle("held", h !== null);
			if (h === null) {
				c.note.textContent = "";
			} else {
				const mi = st.missions.get(h);
				c.note.textContent = "Held by mission " + h +
				    (mi ? " “" + mi.name + "”" : "") +
				    ": cancel it to switch by hand.";
			}
		}
		setConn(st.conn);
	}

	/* ---------------------------------------------------------- missions */

	const ENDED = new Set(["done", "failed", "cancelled", "interrupted"]);

	/* As many ended missions as a hello lists: a page left open on a
	 * busy board does not grow without end, and counts as a new one. */
	const KEEP_ENDED = 200;

	function onMission(mi) {
		const old = st.missions.get(mi.id);
		/* (Before the merge below, which makes old the new state.) */
		const changed = old === undefined || old.state !== mi.state;
		st.missions.set(mi.id, Object.assign(old || {}, mi));
		if (changed && ENDED.has(mi.state)) {
			const ended = [...st.missions.values()].filter((m) => ENDED.has(m.state));
			if (ended.length > KEEP_ENDED) {
				ended.sort((a, b) => (a.ended || 0) - (b.ended || 0) || a.id - b.id);
				for (const m of ended.slice(0, ended.length - KEEP_ENDED))
					st.missions.delete(m.id);
			}
		}
		if (changed)
			announce("Mission " + mi.id + " “" + mi.name + "” " + mi.state +
			    (mi.error ? ": " + mi.error : "."));
		renderMissions();
		renderHolds();
	}

	function renderMissions() {
		const ul = $("missions");
		const all = [...st.missions.values()];
		const active = all.filter((m) => !ENDED.has(m.state)).sort((a, b) => a.id - b.id);
		const ended = all.filter((m) => ENDED.has(m.state)).sort((a, b) => b.id - a.id);
		const shown = active.concat(ended.slice(0, 20));
		$("missions-count").textContent = all.length ?
		    "(" + active.length + " active, " + ended.length + " ended)" : "";
		const keep = new Set(shown.map((m) => m.id));
		for (const li of [...ul.children])
			if (!keep.has(Number(li.dataset.id)))
				li.remove();
		if (shown.length === 0) {
			ul.append(el("li", { class: "muted", text: "None yet." }));
			return;
		}
		let prev = null;
		for (const m of shown) {
			let li = ul.querySelector(`li[data-id="${m.id}"]`);
			if (li === null)
				li = missionItem(m);
			updateMission(li, m);
			if (prev === null ? ul.firstElementChild !== li : prev.nextElementSibling !== li)
				prev === null ? ul.prepend(li) : prev.after(li);
			prev = li;
		}
	}

	function missionItem(m) {
		const li = el("li", { class: "mission", "data-id": m.id });
		li.x = {
			title: el("strong", { id: "mission-" + m.id + "-name" }),
			state: el("span", { class: "state" }),
			bar: el("progress", { "aria-labelledby": "mission-" + m.id + "-name" }),
			count: el("span", { class: "small count" }),
			info: el("p", { class: "small muted info" }),
			error: el("p", { class: "small error-text" }),
			cancel: el("button", {
				type: "button", class: "cancel", "data-needs-conn": "1",
				"aria-label": "Cancel mission " + m.id,
				text: "Cancel",
				onclick: () => request({ op: "mission.cancel", mission: m.id },
				    "Cancelling mission " + m.id)
			}),
		};
		li.append(el("div", { class: "m-head" }, li.x.title, li.x.state),
		    el("div", { class: "m-bar" }, li.x.bar, li.x.count),
		    li.x.info, li.x.error, li.x.cancel);
		return li;
	}

	function updateMission(li, m) {
		const x = li.x;
		li.dataset.state = m.state;
		x.title.textContent = "#" + m.id + " " + m.name;
		x.state.textContent = m.state;
		x.state.className = "state s-" + m.state;
		x.bar.max = Math.max(1, m.total || 1);
		x.bar.value = m.done || 0;
		const pct = m.total ? Math.floor(100 * (m.done || 0) / m.total) : 0;
		x.count.textContent = (m.done || 0) + " / " + (m.total || 0) + " steps · " + pct + "%";
		const bits = [];
		if (m.pins && m.pins.length)
			bits.push(m.pins.join(", "));
		if (m.started)
			bits.push("started " + clock(m.started).slice(0, 8));
		else if (m.created)
			bits.push("queued " + clock(m.created).slice(0, 8));
		if (m.ended && m.started)
			bits.push("ran " + duration(m.ended - m.started));
		if (m.on_cancel === "hold")
			bits.push("keeps outputs on cancel");
		x.info.textContent = bits.join(" · ");
		x.error.textContent = m.error || "";
		x.error.hidden = !m.error;
		x.cancel.hidden = ENDED.has(m.state);
	}

	/* ---------------------------------------------------------- templates */

	function fillSelects() {
		const outs = st.pins.filter((p) => p.direction === "output");
		const ins = st.pins.filter((p) => p.direction === "input" &&
		    p.edge && p.edge !== "none");
		for (const [cls, list] of [["outputs", outs], ["inputs", ins]]) {
			for (const s of document.querySelectorAll("select." + cls)) {
				const keep = s.value;
				s.textContent = "";
				for (const p of list)
					s.append(el("option", { value: p.name, text: p.name }));
				if (list.some((p) => p.name === keep))
					s.value = keep;
				if (list.length === 0)
					s.append(el("option", { value: "", text: "(none)" }));
			}
		}
		edgeChoices();
		if ($("json").value === "")
			$("json").value = exampleMission();
		editorRender();
	}

	/* Only the edges the input watches can be waited for. */
	function edgeChoices() {
		const f = $("form-wait");
		const p = st.byName.get(f.input.value);
		const ok = p === undefined ? [] : {
			both: ["rising", "falling", "both"],
			rising: ["rising"], falling: ["falling"]
		}[p.edge] || [];
		for (const o of f.edge.options)
			o.disabled = !ok.includes(o.value);
		if (f.edge.selectedOptions[0] && f.edge.selectedOptions[0].disabled && ok.length)
			f.edge.value = ok[0];
	}

	function templateMission(form) {
		const f = form.elements;
		const n = (name) => Number(f[name].value);
		switch (form.id) {
		case "form-blink": {
			const half = Math.max(1, Math.round(n("period") / 2));
			return { name: "blink " + f.pin.value, steps: [{ repeat: {
			    count: n("count"), steps: [
				{ set: { pin: f.pin.value, value: 1 } },
				{ sleep: { ms: half } },
				{ set: { pin: f.pin.value, value: 0 } },
				{ sleep: { ms: half } }] } }] };
		}
		case "form-pulse":
			return { name: "pulse " + f.pin.value, steps: [
			    { set: { pin: f.pin.value, value: 1 } },
			    { sleep: { ms: n("ms") } },
			    { set: { pin: f.pin.value, value: 0 } }] };
		case "form-wait":
			return { name: "on " + f.input.value + " set " + f.pin.value, steps: [
			    { wait: { pin: f.input.value, edge: f.edge.value,
				timeout_ms: n("timeout") } },
			    { set: { pin: f.pin.value, value: n("value") } }] };
		}
		return null;
	}

	function exampleMission() {
		const out = st.pins.find((p) => p.direction === "output");
		const o = out ? out.name : "led";
		return JSON.stringify({ name: "three blinks", on_cancel: "safe", steps: [
		    { repeat: { count: 3, steps: [
			{ set: { pin: o, value: 1 } }, { sleep: { ms: 200 } },
			{ set: { pin: o, value: 0 } }, { sleep: { ms: 200 } }] } }] },
		    null, 2);
	}

	function startMission(what, obj, raw) {
		const opts = raw === undefined ? {} : { rawMission: raw, quiet: true };
		return request({ op: "mission.start", mission: raw === undefined ? obj : undefined },
		    what, opts).then((r) => {
			if (r.ok)
				announce("Mission " + r.mission + " accepted.");
			return r;
		});
	}

	function setupTabs() {
		const tabs = [...document.querySelectorAll('[role="tab"]')];
		const select = (t, focus) => {
			for (const u of tabs) {
				const on = u === t;
				u.setAttribute("aria-selected", on ? "true" : "false");
				u.tabIndex = on ? 0 : -1;
				$(u.getAttribute("aria-controls")).hidden = !on;
			}
			if (focus)
				t.focus();
			if (t.id === "tab-json")
				editorRender();
		};
		tabs.forEach((t, i) => {
			t.addEventListener("click", () => select(t, false));
			t.addEventListener("keydown", (e) => {
				let j = null;
				if (e.key === "ArrowRight")
					j = (i + 1) % tabs.length;
				else if (e.key === "ArrowLeft")
					j = (i + tabs.length - 1) % tabs.length;
				else if (e.key === "Home")
					j = 0;
				else if (e.key === "End")
					j = tabs.length - 1;
				if (j !== null) {
					e.preventDefault();
					select(tabs[j], true);
				}
			});
		});
		for (const form of document.querySelectorAll("form.tpl")) {
			if (form.id === "form-json")
				continue;
			form.addEventListener("submit", (e) => {
				e.preventDefault();
				const m = templateMission(form);
				const b = form.querySelector("button[type=submit]");
				b.disabled = true;
				startMission("Starting “" + m.name + "”", m).then(() => {
					b.disabled = false;
				});
			});
			form.querySelector(".to-json").addEventListener("click", () => {
				$("json").value = JSON.stringify(templateMission(form), null, 2);
				editorSetError(null);
				select($("tab-json"), false);
				$("json").focus();
			});
		}
		$("form-wait").input.addEventListener("change", edgeChoices);
		$("form-json").addEventListener("submit", (e) => {
			e.preventDefault();
			submitJSON();
		});
		$("json-format").addEventListener("click", () => {
			try {
				$("json").value = JSON.stringify(JSON.parse($("json").value), null, 2);
				editorSetError(null);
			} catch (err) {
				submitCheck();
			}
		});
	}

	/* ------------------------------------------------------ the JSON editor */

	/*
	 * A JSON parser that remembers where each value, and each member's
	 * name, is in the text, so that an error path such as
	 * "steps[1].repeat.steps[0].sleep.ms" can be shown at its place.
	 */
	function parseWithPlaces(text) {
		let i = 0;
		const fail = (msg, at) => {
			const e = new Error(msg);
			e.at = at === undefined ? i : at;
			throw e;
		};
		const ws = () => {
			while (i < text.length && " \t\r\n".includes(text[i]))
				i++;
		};
		const str = () => {
			const start = i;
			i++;
			while (i < text.length && text[i] !== '"') {
				if (text[i] === "\\")
					i++;
				else if (text.charCodeAt(i) < 0x20)
					fail("a control character must be escaped in a string");
				i++;
			}
			if (i >= text.length)
				fail("the string is not closed", start);
			i++;
			try {
				return JSON.parse(text.slice(start, i));
			} catch (e) {
				fail("bad escape in a string", start);
			}
		};
		const value = () => {
			ws();
			const start = i;
			const ch = text[i];
			if (ch === "{") {
				i++;
				const node = { type: "object", start, members: new Map() };
				ws();
				if (text[i] === "}") {
					i++;
					node.end = i;
					return node;
				}
				for (;;) {
					ws();
					if (text[i] !== '"')
						fail("expected a member name in double quotes");
					const ks = i;
					const key = str();
					const ke = i;
					if (node.members.has(key))
						fail("member \"" + key + "\" appears twice", ks);
					ws();
					if (text[i] !== ":")
						fail("expected ':' after the member name");
					i++;
					const v = value();
					node.members.set(key, { keyStart: ks, keyEnd: ke, node: v });
					ws();
					if (text[i] === ",") {
						i++;
						continue;
					}
					if (text[i] === "}") {
						i++;
						node.end = i;
						return node;
					}
					fail("expected ',' or '}'");
				}
			}
			if (ch === "[") {
				i++;
				const node = { type: "array", start, items: [] };
				ws();
				if (text[i] === "]") {
					i++;
					node.end = i;
					return node;
				}
				for (;;) {
					node.items.push(value());
					ws();
					if (text[i] === ",") {
						i++;
						continue;
					}
					if (text[i] === "]") {
						i++;
						node.end = i;
						return node;
					}
					fail("expected ',' or ']'");
				}
			}
			if (ch === '"') {
				str();
				return { type: "string", start, end: i };
			}
			const lit = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
			if (lit === null)
				fail(i >= text.length ? "the text ends too early" : "unexpected character '" + ch + "'");
			i += lit[0].length;
			return { type: "scalar", start, end: i };
		};
		const root = value();
		ws();
		if (i < text.length)
			fail("unexpected text after the mission's closing '}'");
		return root;
	}

	/* Where the worker's "PATH: RULE" points, as [start, end) in text. */
	function placeOfPath(root, path, rule) {
		if (path === "mission")
			return [root.start, root.start + 1];
		const toks = [];
		const re = /(?:^|\.)([^.[\]]+)|\[(\d+)\]/y;
		let m;
		while (re.lastIndex < path.length && (m = re.exec(path)) !== null)
			toks.push(m[2] !== undefined ? Number(m[2]) : m[1]);
		let node = root;
		let place = [root.start, root.start + 1];
		for (let k = 0; k < toks.length; k++) {
			const t = toks[k];
			if (typeof t === "number") {
				if (node.type !== "array" || t >= node.items.length)
					return place;
				node = node.items[t];
				place = [node.start, node.end];
				continue;
			}
			if (node.type !== "object")
				return place;
			let mem = node.members.get(t);
			if (mem === undefined && t.endsWith("..."))
				for (const [key, v] of node.members)
					if (key.replace(/[^\x20-\x7e]/g, "?").startsWith(t.slice(0, -3)))
						mem = v;
			if (mem === undefined)	/* a missing member: its object */
				return [node.start, node.start + 1];
			if (k === toks.length - 1 && /^unknown (field|step)/.test(rule))
				return [mem.keyStart, mem.keyEnd];
			node = mem.node;
			place = [node.start, node.end];
		}
		return place;
	}

	function lineCol(text, at) {
		const before = text.slice(0, at);
		const line = before.split("\n").length;
		return [line, at - before.lastIndexOf("\n")];
	}

	function editorSetError(err) {
		st.editorError = err;
		const ta = $("json");
		if (err === null) {
			ta.removeAttribute("aria-invalid");
			$("json-error").textContent = "";
		} else {
			ta.setAttribute("aria-invalid", "true");
			$("json-error").textContent = "Line " + err.line + ", column " +
			    err.col + ": " + err.message;
		}
		editorRender();
	}

	function editorRender() {
		const ta = $("json");
		const text = ta.value;
		const err = st.editorError;
		const lines = text.split("\n").length;
		const g = $("gutter");
		g.textContent = "";
		for (let n = 1; n <= lines; n++)
			g.append(el("span", { class: err && err.line === n ? "bad" : null,
			    text: n + "\n" }));
		const bd = $("backdrop");
		bd.textContent = "";
		if (err && err.start <= text.length) {
			const end = Math.max(err.end, err.start + 1);
			bd.append(text.slice(0, err.start),
			    el("mark", { text: text.slice(err.start, end) || " " }),
			    text.slice(end));
		} else {
			bd.append(text);
		}
		bd.append("\n");
		syncScroll();
	}

	function syncScroll() {
		const ta = $("json");
		$("backdrop").scrollTop = ta.scrollTop;
		$("backdrop").scrollLeft = ta.scrollLeft;
		$("gutter").scrollTop = ta.scrollTop;
	}

	function showAt(text, start, end, message) {
		const [line, col] = lineCol(text, start);
		editorSetError({ start, end, line, col, message });
		const ta = $("json");
		ta.focus();
		ta.setSelectionRange(start, Math.max(start, end));
		/* Monospace: bring the mark into view, also sideways on a
		 * narrow screen where the line is longer than the box. */
		const cs = getComputedStyle(ta);
		const ctx = document.createElement("canvas").getContext("2d");
		ctx.font = cs.font;
		const cw = ctx.measureText("0").width;
		const lh = parseFloat(cs.lineHeight) || 20;
		ta.scrollLeft = Math.max(0, (col - 1) * cw - ta.clientWidth / 3);
		ta.scrollTop = Math.max(0, (line - 1) * lh - ta.clientHeight / 3);
		syncScroll();
	}

	/* Checks the syntax here; returns the tree or null. */
	function submitCheck() {
		const text = $("json").value;
		try {
			const root = parseWithPlaces(text);
			if (root.type !== "object") {
				showAt(text, root.start, root.end, "a mission must be a JSON object { … }");
				return null;
			}
			return root;
		} catch (e) {
			if (e.at === undefined)
				throw e;
			showAt(text, e.at, e.at + 1, "not valid JSON: " + e.message);
			return null;
		}
	}

	function submitJSON() {
		const root = submitCheck();
		if (root === null)
			return;
		const text = $("json").value;
		editorSetError(null);
		const b = $("form-json").querySelector("button[type=submit]");
		b.disabled = true;
		startMission("Starting the mission", null, text).then((r) => {
			b.disabled = false;
			if (r.ok || !r.error)
				return;
			const msg = r.error.message || r.error.code;
			const m = /^([^:]+): (.*)$/.exec(msg);
			if (r.error.code === "bad_mission" && m) {
				const [s, e] = placeOfPath(root, m[1], m[2]);
				showAt(text, s, e, msg);
			} else {
				reportError("Starting the mission", r.error);
			}
		});
	}

	function setupEditor() {
		const ta = $("json");
		ta.addEventListener("input", () => {
			if (st.editorError)
				editorSetError(null);
			else
				editorRender();
		});
		ta.addEventListener("scroll", syncScroll);
		ta.addEventListener("keydown", (e) => {
			/* Tab indents; Escape, then Tab, leaves the editor. */
			if (e.key === "Escape") {
				ta.dataset.escaped = "1";
				return;
			}
			if (e.key === "Tab" && !e.shiftKey && ta.dataset.escaped !== "1") {
				e.preventDefault();
				ta.setRangeText("  ", ta.selectionStart, ta.selectionEnd, "end");
				editorRender();
			}
			if (e.key !== "Tab")
				ta.dataset.escaped = "";
		});
		ta.addEventListener("blur", () => { ta.dataset.escaped = ""; });
	}

	/* ------------------------------------------------------ timing diagram */

	const dg = { canvas: null, ctx: null, w: 0, h: 0, lane: 30, label: 88,
	    axis: 22, colors: null, last: 0, footer: "", drawn: 0, dirty: true };

	function readColors() {
		dg.dirty = true;
		const cs = getComputedStyle(document.body);
		const v = (n) => cs.getPropertyValue(n).trim();
		dg.colors = { fg: v("--fg"), muted: v("--muted"), grid: v("--grid"),
		    out: v("--out"), in: v("--in"), gap: v("--gap"), bg: v("--panel") };
	}

	function resizeDiagram() {
		if (dg.canvas === null)
			return;
		const wrap = dg.canvas.parentElement;
		const dpr = window.devicePixelRatio || 1;
		dg.label = wrap.clientWidth < 500 ? 64 : 88;
		dg.w = wrap.clientWidth;
		dg.h = Math.max(1, st.pins.length) * dg.lane + dg.axis + 6;
		dg.canvas.width = Math.round(dg.w * dpr);
		dg.canvas.height = Math.round(dg.h * dpr);
		dg.canvas.style.height = dg.h + "px";
		dg.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		dg.dirty = true;
	}

	function prune(now) {
		let n = 0;
		while (n < st.events.length && st.events[n].ts < now - KEEP_US &&
		    !st.resuming) {
			const e = st.events[n];
			st.base.set(e.pin, e.value);
			if (!e.synthetic)
				st.floor = e.seq;
			n++;
		}
		if (n)
			st.events.splice(0, n);
		st.gaps = st.gaps.filter((g) => g.to > now - KEEP_US);
	}

	function draw(t) {
		requestAnimationFrame(draw);
		if (dg.last) {
			const gap = t - dg.last;
			if (gap > st.maxFrameGap && st.events.length)
				st.maxFrameGap = gap;
		}
		dg.last = t;
		if ($("pause").checked || document.hidden)
			return;
		const now = serverNowUs();
		/* Nothing moves in the picture when no change, hole or start
		 * of a lane is in view: then once a second is enough. */
		const moving = st.downSince !== null || st.gaps.length > 0 ||
		    (st.events.length > 0 &&
		    st.events[st.events.length - 1].ts > now - WINDOW_US - 1e6) ||
		    st.pins.some((p) => (st.knownFrom.get(p.name) || 0) > now - WINDOW_US - 1e6);
		if (!moving && !dg.dirty && t - dg.drawn < 1000)
			return;
		dg.dirty = false;
		dg.drawn = t;
		st.frames++;
		prune(now);
		const ctx = dg.ctx, c = dg.colors;
		const x0 = dg.label, x1 = dg.w - 8, span = x1 - x0;
		const xOf = (ts) => x0 + span * (1 - (now - ts) / WINDOW_US);
		ctx.clearRect(0, 0, dg.w, dg.h);
		ctx.font = "12px system-ui, sans-serif";
		ctx.textBaseline = "middle";
		const lanesH = st.pins.length * dg.lane;

		/* time grid, every 5 s, and the axis */
		ctx.strokeStyle = c.grid;
		ctx.fillStyle = c.muted;
		ctx.lineWidth = 1;
		ctx.textAlign = "center";
		const every = span < 420 ? 10 : 5;	/* labels that fit */
		for (let s = 0; s <= 30; s += 5) {
			const x = Math.round(x1 - span * s / 30) + 0.5;
			ctx.beginPath();
			ctx.moveTo(x, 0);
			ctx.lineTo(x, lanesH);
			ctx.stroke();
			if (s % every === 0)
				ctx.fillText(s === 0 ? "now" : "−" + s + " s",
				    Math.min(Math.max(x, x0 + 14), x1 - 14),
				    lanesH + dg.axis / 2 + 2);
		}

		const holes = st.gaps.slice();
		if (st.downSince !== null)
			holes.push({ from: st.downSince, to: now });

		/* one lane per pin: the level, filled when high */
		const idx = new Map();
		st.pins.forEach((p, k) => idx.set(p.name, k));
		const lvl = st.pins.map((p) => st.base.has(p.name) ? st.base.get(p.name) : p.value);
		/* Before the page knew a pin's level, its lane stays empty. */
		const from = st.pins.map((p) =>
		    Math.min(x1, Math.max(x0, xOf(st.knownFrom.get(p.name) || 0))));
		const xs = from.slice();
		const paths = st.pins.map((p, k) => {
			const path = new Path2D();
			path.moveTo(from[k], yOf(k, lvl[k]));
			return path;
		});
		const fills = st.pins.map(() => new Path2D());
		const ticks = new Path2D();
		const end = st.downSince !== null ? Math.min(x1, xOf(st.downSince)) : x1;
		const step = (k, x, v) => {
			x = Math.min(Math.max(x, x0), end);
			if (lvl[k])
				fills[k].rect(xs[k], yOf(k, 1), x - xs[k], yOf(k, 0) - yOf(k, 1));
			paths[k].lineTo(x, yOf(k, lvl[k]));
			if (v === lvl[k]) {	/* an edge that left the value */
				ticks.moveTo(x, yOf(k, 1) - 3);
				ticks.lineTo(x, yOf(k, 0) + 3);
			}
			paths[k].lineTo(x, yOf(k, v));
			xs[k] = x;
			lvl[k] = v;
		};
		for (const e of st.events) {
			const k = idx.get(e.pin);
			if (k === undefined)
				continue;
			if (e.ts < now - WINDOW_US) {
				lvl[k] = e.value;
				paths[k] = new Path2D();
				paths[k].moveTo(from[k], yOf(k, lvl[k]));
				continue;
			}
			step(k, xOf(e.ts), e.value);
		}
		st.pins.forEach((p, k) => {
			if (lvl[k])
				fills[k].rect(xs[k], yOf(k, 1), end - xs[k], yOf(k, 0) - yOf(k, 1));
			paths[k].lineTo(end, yOf(k, lvl[k]));
			const col = p.direction === "output" ? c.out : c.in;
			ctx.globalAlpha = 0.18;
			ctx.fillStyle = col;
			ctx.fill(fills[k]);
			ctx.globalAlpha = 1;
			ctx.strokeStyle = col;
			ctx.lineWidth = 2;
			ctx.stroke(paths[k]);
			ctx.fillStyle = c.fg;
			ctx.textAlign = "left";
			let name = p.name;
			while (name.length > 2 && ctx.measureText(name).width > dg.label - 12)
				name = name.slice(0, -2) + "…";
			ctx.fillText(name, 4, k * dg.lane + dg.lane / 2);
			ctx.strokeStyle = c.grid;
			ctx.lineWidth = 1;
			ctx.beginPath();
			ctx.moveTo(0, (k + 1) * dg.lane + 0.5);
			ctx.lineTo(dg.w, (k + 1) * dg.lane + 0.5);
			ctx.stroke();
		});
		ctx.strokeStyle = c.muted;
		ctx.lineWidth = 1;
		ctx.stroke(ticks);
		/* Where there is no data (disconnected, or changes lost), over
		 * the lanes: no level is drawn through it. */
		ctx.textAlign = "center";
		for (const g of holes) {
			const a = Math.max(x0, xOf(g.from)), b = Math.min(x1, xOf(g.to));
			if (b <= a)
				continue;
			ctx.fillStyle = c.bg;
			ctx.fillRect(a, 0, Math.max(1, b - a), lanesH);
			ctx.fillStyle = c.gap;
			ctx.fillRect(a, 0, Math.max(1, b - a), lanesH);
			ctx.fillStyle = c.muted;
			if (b - a > 60)
				ctx.fillText("no data", (a + b) / 2, lanesH / 2);
		}
		if (st.lastSeq !== null) {
			const f = "last change #" + st.lastSeq + " · " +
			    st.events.length + " changes kept · reconnects " + st.reconnects;
			if (f !== dg.footer)
				$("seq-info").textContent = dg.footer = f;
		}
	}

	function yOf(k, v) {
		return k * dg.lane + (v ? 7 : dg.lane - 7);
	}

	function setupDiagram() {
		dg.canvas = $("diagram");
		dg.ctx = dg.canvas.getContext("2d");
		readColors();
		matchMedia("(prefers-color-scheme: dark)").addEventListener("change", readColors);
		if (window.ResizeObserver)
			new ResizeObserver(resizeDiagram).observe(dg.canvas.parentElement);
		else
			addEventListener("resize", resizeDiagram);
		resizeDiagram();
		requestAnimationFrame(draw);
	}

	/* --------------------------------------------------------------- start */

	/* For the browser tests (tests/browser/dashboard.py), and the curious. */
	window.gpiows = {
		events: () => st.events.filter((e) => !e.synthetic).map((e) => ({
		    seq: e.seq, pin: e.pin, value: e.value, ts: e.ts,
		    source: e.source, replay: e.replay })),
		state: () => ({ conn: st.conn, lastSeq: st.lastSeq, users: st.users,
		    reconnects: st.reconnects, doubled: st.doubled, missed: st.missed,
		    gaps: st.gaps.length, frames: st.frames,
		    maxFrameGap: st.maxFrameGap, resuming: st.resuming }),
		send: (msg, what) => request(msg, what || "Request"),
		editorError: () => st.editorError,
	};

	$("retry").addEventListener("click", () => {
		if (st.ws === null)
			connect();
	});
	/* What the keyboard focuses or a link scrolls to stops below the
	 * sticky header and banner, not under them (WCAG 2.4.11). */
	const sticky = document.querySelector(".sticky");
	const padTop = () => {
		document.documentElement.style.scrollPaddingTop =
		    sticky.offsetHeight + 8 + "px";
	};
	if (window.ResizeObserver)
		new ResizeObserver(padTop).observe(sticky);
	padTop();
	setupTabs();
	setupEditor();
	setupDiagram();
	connect();
	(function tick() {
		heartbeat();
		setTimeout(tick, Math.max(250, st.quietMs / 4));
	})();
})();
