// src/config.ts
var e = "jarvis-card", t = class extends Error {};
function n(e, n) {
	if (e == null || e === "") return null;
	if (typeof e != "string") throw new t(`${n} must be a text`);
	return e;
}
function r(e) {
	if (typeof e != "object" || !e) throw new t("Invalid configuration");
	let r = e, i = r.satellites ?? [];
	if (!Array.isArray(i) || !i.every((e) => typeof e == "string" && e.startsWith("assist_satellite."))) throw new t("satellites must be a list of assist_satellite entities");
	let a = n(r.agent, "agent");
	if (a !== null && !a.startsWith("conversation.")) throw new t("agent must be a conversation entity");
	let o = 5;
	if (r.turns !== void 0 && r.turns !== null && r.turns !== "") {
		let e = Number(r.turns);
		if (!Number.isInteger(e) || e < 0) throw new t("turns must be a whole number ≥ 0");
		o = Math.min(20, e);
	}
	return {
		title: n(r.title, "title"),
		satellites: [...i],
		agent: a,
		pipeline: n(r.pipeline, "pipeline"),
		turns: o,
		showAgents: r.show_agents !== !1,
		showTalk: r.show_talk !== !1
	};
}
function i(e) {
	let t = { type: e.type };
	for (let [n, r] of Object.entries(e)) n !== "type" && r != null && r !== "" && (Array.isArray(r) && r.length === 0 || (t[n] = r));
	return t;
}
// node_modules/@lit/reactive-element/css-tag.js
var a = globalThis, o = a.ShadowRoot && (a.ShadyCSS === void 0 || a.ShadyCSS.nativeShadow) && "adoptedStyleSheets" in Document.prototype && "replace" in CSSStyleSheet.prototype, s = Symbol(), c = /* @__PURE__ */ new WeakMap(), l = class {
	constructor(e, t, n) {
		if (this._$cssResult$ = !0, n !== s) throw Error("CSSResult is not constructable. Use `unsafeCSS` or `css` instead.");
		this.cssText = e, this.t = t;
	}
	get styleSheet() {
		let e = this.o, t = this.t;
		if (o && e === void 0) {
			let n = t !== void 0 && t.length === 1;
			n && (e = c.get(t)), e === void 0 && ((this.o = e = new CSSStyleSheet()).replaceSync(this.cssText), n && c.set(t, e));
		}
		return e;
	}
	toString() {
		return this.cssText;
	}
}, u = (e) => new l(typeof e == "string" ? e : e + "", void 0, s), d = (e, ...t) => new l(e.length === 1 ? e[0] : t.reduce((t, n, r) => t + ((e) => {
	if (!0 === e._$cssResult$) return e.cssText;
	if (typeof e == "number") return e;
	throw Error("Value passed to 'css' function must be a 'css' function result: " + e + ". Use 'unsafeCSS' to pass non-literal values, but take care to ensure page security.");
})(n) + e[r + 1], e[0]), e, s), ee = (e, t) => {
	if (o) e.adoptedStyleSheets = t.map((e) => e instanceof CSSStyleSheet ? e : e.styleSheet);
	else for (let n of t) {
		let t = document.createElement("style"), r = a.litNonce;
		r !== void 0 && t.setAttribute("nonce", r), t.textContent = n.cssText, e.appendChild(t);
	}
}, te = o ? (e) => e : (e) => e instanceof CSSStyleSheet ? ((e) => {
	let t = "";
	for (let n of e.cssRules) t += n.cssText;
	return u(t);
})(e) : e, { is: ne, defineProperty: re, getOwnPropertyDescriptor: ie, getOwnPropertyNames: ae, getOwnPropertySymbols: oe, getPrototypeOf: se } = Object, f = globalThis, ce = f.trustedTypes, le = ce ? ce.emptyScript : "", ue = f.reactiveElementPolyfillSupport, p = (e, t) => e, m = {
	toAttribute(e, t) {
		switch (t) {
			case Boolean:
				e = e ? le : null;
				break;
			case Object:
			case Array: e = e == null ? e : JSON.stringify(e);
		}
		return e;
	},
	fromAttribute(e, t) {
		let n = e;
		switch (t) {
			case Boolean:
				n = e !== null;
				break;
			case Number:
				n = e === null ? null : Number(e);
				break;
			case Object:
			case Array: try {
				n = JSON.parse(e);
			} catch {
				n = null;
			}
		}
		return n;
	}
}, h = (e, t) => !ne(e, t), g = {
	attribute: !0,
	type: String,
	converter: m,
	reflect: !1,
	useDefault: !1,
	hasChanged: h
};
Symbol.metadata ??= Symbol("metadata"), f.litPropertyMetadata ??= /* @__PURE__ */ new WeakMap();
var _ = class extends HTMLElement {
	static addInitializer(e) {
		this._$Ei(), (this.l ??= []).push(e);
	}
	static get observedAttributes() {
		return this.finalize(), this._$Eh && [...this._$Eh.keys()];
	}
	static createProperty(e, t = g) {
		if (t.state && (t.attribute = !1), this._$Ei(), this.prototype.hasOwnProperty(e) && ((t = Object.create(t)).wrapped = !0), this.elementProperties.set(e, t), !t.noAccessor) {
			let n = Symbol(), r = this.getPropertyDescriptor(e, n, t);
			r !== void 0 && re(this.prototype, e, r);
		}
	}
	static getPropertyDescriptor(e, t, n) {
		let { get: r, set: i } = ie(this.prototype, e) ?? {
			get() {
				return this[t];
			},
			set(e) {
				this[t] = e;
			}
		};
		return {
			get: r,
			set(t) {
				let a = r?.call(this);
				i?.call(this, t), this.requestUpdate(e, a, n);
			},
			configurable: !0,
			enumerable: !0
		};
	}
	static getPropertyOptions(e) {
		return this.elementProperties.get(e) ?? g;
	}
	static _$Ei() {
		if (this.hasOwnProperty(p("elementProperties"))) return;
		let e = se(this);
		e.finalize(), e.l !== void 0 && (this.l = [...e.l]), this.elementProperties = new Map(e.elementProperties);
	}
	static finalize() {
		if (this.hasOwnProperty(p("finalized"))) return;
		if (this.finalized = !0, this._$Ei(), this.hasOwnProperty(p("properties"))) {
			let e = this.properties, t = [...ae(e), ...oe(e)];
			for (let n of t) this.createProperty(n, e[n]);
		}
		let e = this[Symbol.metadata];
		if (e !== null) {
			let t = litPropertyMetadata.get(e);
			if (t !== void 0) for (let [e, n] of t) this.elementProperties.set(e, n);
		}
		this._$Eh = /* @__PURE__ */ new Map();
		for (let [e, t] of this.elementProperties) {
			let n = this._$Eu(e, t);
			n !== void 0 && this._$Eh.set(n, e);
		}
		this.elementStyles = this.finalizeStyles(this.styles);
	}
	static finalizeStyles(e) {
		let t = [];
		if (Array.isArray(e)) {
			let n = new Set(e.flat(1 / 0).reverse());
			for (let e of n) t.unshift(te(e));
		} else e !== void 0 && t.push(te(e));
		return t;
	}
	static _$Eu(e, t) {
		let n = t.attribute;
		return !1 === n ? void 0 : typeof n == "string" ? n : typeof e == "string" ? e.toLowerCase() : void 0;
	}
	constructor() {
		super(), this._$Ep = void 0, this.isUpdatePending = !1, this.hasUpdated = !1, this._$Em = null, this._$Ev();
	}
	_$Ev() {
		this._$ES = new Promise((e) => this.enableUpdating = e), this._$AL = /* @__PURE__ */ new Map(), this._$E_(), this.requestUpdate(), this.constructor.l?.forEach((e) => e(this));
	}
	addController(e) {
		(this._$EO ??= /* @__PURE__ */ new Set()).add(e), this.renderRoot !== void 0 && this.isConnected && e.hostConnected?.();
	}
	removeController(e) {
		this._$EO?.delete(e);
	}
	_$E_() {
		let e = /* @__PURE__ */ new Map(), t = this.constructor.elementProperties;
		for (let n of t.keys()) this.hasOwnProperty(n) && (e.set(n, this[n]), delete this[n]);
		e.size > 0 && (this._$Ep = e);
	}
	createRenderRoot() {
		let e = this.shadowRoot ?? this.attachShadow(this.constructor.shadowRootOptions);
		return ee(e, this.constructor.elementStyles), e;
	}
	connectedCallback() {
		this.renderRoot ??= this.createRenderRoot(), this.enableUpdating(!0), this._$EO?.forEach((e) => e.hostConnected?.());
	}
	enableUpdating(e) {}
	disconnectedCallback() {
		this._$EO?.forEach((e) => e.hostDisconnected?.());
	}
	attributeChangedCallback(e, t, n) {
		this._$AK(e, n);
	}
	_$ET(e, t) {
		let n = this.constructor.elementProperties.get(e), r = this.constructor._$Eu(e, n);
		if (r !== void 0 && !0 === n.reflect) {
			let i = (n.converter?.toAttribute === void 0 ? m : n.converter).toAttribute(t, n.type);
			this._$Em = e, i == null ? this.removeAttribute(r) : this.setAttribute(r, i), this._$Em = null;
		}
	}
	_$AK(e, t) {
		let n = this.constructor, r = n._$Eh.get(e);
		if (r !== void 0 && this._$Em !== r) {
			let e = n.getPropertyOptions(r), i = typeof e.converter == "function" ? { fromAttribute: e.converter } : e.converter?.fromAttribute === void 0 ? m : e.converter;
			this._$Em = r;
			let a = i.fromAttribute(t, e.type);
			this[r] = a ?? this._$Ej?.get(r) ?? a, this._$Em = null;
		}
	}
	requestUpdate(e, t, n, r = !1, i) {
		if (e !== void 0) {
			let a = this.constructor;
			if (!1 === r && (i = this[e]), n ??= a.getPropertyOptions(e), !((n.hasChanged ?? h)(i, t) || n.useDefault && n.reflect && i === this._$Ej?.get(e) && !this.hasAttribute(a._$Eu(e, n)))) return;
			this.C(e, t, n);
		}
		!1 === this.isUpdatePending && (this._$ES = this._$EP());
	}
	C(e, t, { useDefault: n, reflect: r, wrapped: i }, a) {
		n && !(this._$Ej ??= /* @__PURE__ */ new Map()).has(e) && (this._$Ej.set(e, a ?? t ?? this[e]), !0 !== i || a !== void 0) || (this._$AL.has(e) || (this.hasUpdated || n || (t = void 0), this._$AL.set(e, t)), !0 === r && this._$Em !== e && (this._$Eq ??= /* @__PURE__ */ new Set()).add(e));
	}
	async _$EP() {
		this.isUpdatePending = !0;
		try {
			await this._$ES;
		} catch (e) {
			Promise.reject(e);
		}
		let e = this.scheduleUpdate();
		return e != null && await e, !this.isUpdatePending;
	}
	scheduleUpdate() {
		return this.performUpdate();
	}
	performUpdate() {
		if (!this.isUpdatePending) return;
		if (!this.hasUpdated) {
			if (this.renderRoot ??= this.createRenderRoot(), this._$Ep) {
				for (let [e, t] of this._$Ep) this[e] = t;
				this._$Ep = void 0;
			}
			let e = this.constructor.elementProperties;
			if (e.size > 0) for (let [t, n] of e) {
				let { wrapped: e } = n, r = this[t];
				!0 !== e || this._$AL.has(t) || r === void 0 || this.C(t, void 0, n, r);
			}
		}
		let e = !1, t = this._$AL;
		try {
			e = this.shouldUpdate(t), e ? (this.willUpdate(t), this._$EO?.forEach((e) => e.hostUpdate?.()), this.update(t)) : this._$EM();
		} catch (t) {
			throw e = !1, this._$EM(), t;
		}
		e && this._$AE(t);
	}
	willUpdate(e) {}
	_$AE(e) {
		this._$EO?.forEach((e) => e.hostUpdated?.()), this.hasUpdated || (this.hasUpdated = !0, this.firstUpdated(e)), this.updated(e);
	}
	_$EM() {
		this._$AL = /* @__PURE__ */ new Map(), this.isUpdatePending = !1;
	}
	get updateComplete() {
		return this.getUpdateComplete();
	}
	getUpdateComplete() {
		return this._$ES;
	}
	shouldUpdate(e) {
		return !0;
	}
	update(e) {
		this._$Eq &&= this._$Eq.forEach((e) => this._$ET(e, this[e])), this._$EM();
	}
	updated(e) {}
	firstUpdated(e) {}
};
_.elementStyles = [], _.shadowRootOptions = { mode: "open" }, _[p("elementProperties")] = /* @__PURE__ */ new Map(), _[p("finalized")] = /* @__PURE__ */ new Map(), ue?.({ ReactiveElement: _ }), (f.reactiveElementVersions ??= []).push("2.1.2");
// node_modules/lit-html/lit-html.js
var v = globalThis, y = (e) => e, b = v.trustedTypes, x = b ? b.createPolicy("lit-html", { createHTML: (e) => e }) : void 0, de = "$lit$", S = `lit$${Math.random().toFixed(9).slice(2)}$`, fe = "?" + S, pe = `<${fe}>`, C = document, w = () => C.createComment(""), T = (e) => e === null || typeof e != "object" && typeof e != "function", E = Array.isArray, me = (e) => E(e) || typeof e?.[Symbol.iterator] == "function", D = "[ 	\n\f\r]", O = /<(?:(!--|\/[^a-zA-Z])|(\/?[a-zA-Z][^>\s]*)|(\/?$))/g, k = /-->/g, A = />/g, j = RegExp(`>|${D}(?:([^\\s"'>=/]+)(${D}*=${D}*(?:[^ \t\n\f\r"'\`<>=]|("|')|))|$)`, "g"), M = /'/g, he = /"/g, N = /^(?:script|style|textarea|title)$/i, P = ((e) => (t, ...n) => ({
	_$litType$: e,
	strings: t,
	values: n
}))(1), F = Symbol.for("lit-noChange"), I = Symbol.for("lit-nothing"), L = /* @__PURE__ */ new WeakMap(), R = C.createTreeWalker(C, 129);
function z(e, t) {
	if (!E(e) || !e.hasOwnProperty("raw")) throw Error("invalid template strings array");
	return x === void 0 ? t : x.createHTML(t);
}
var ge = (e, t) => {
	let n = e.length - 1, r = [], i, a = t === 2 ? "<svg>" : t === 3 ? "<math>" : "", o = O;
	for (let t = 0; t < n; t++) {
		let n = e[t], s, c, l = -1, u = 0;
		for (; u < n.length && (o.lastIndex = u, c = o.exec(n), c !== null);) u = o.lastIndex, o === O ? c[1] === "!--" ? o = k : c[1] === void 0 ? c[2] === void 0 ? c[3] !== void 0 && (o = j) : (N.test(c[2]) && (i = RegExp("</" + c[2], "g")), o = j) : o = A : o === j ? c[0] === ">" ? (o = i ?? O, l = -1) : c[1] === void 0 ? l = -2 : (l = o.lastIndex - c[2].length, s = c[1], o = c[3] === void 0 ? j : c[3] === "\"" ? he : M) : o === he || o === M ? o = j : o === k || o === A ? o = O : (o = j, i = void 0);
		let d = o === j && e[t + 1].startsWith("/>") ? " " : "";
		a += o === O ? n + pe : l >= 0 ? (r.push(s), n.slice(0, l) + de + n.slice(l) + S + d) : n + S + (l === -2 ? t : d);
	}
	return [z(e, a + (e[n] || "<?>") + (t === 2 ? "</svg>" : t === 3 ? "</math>" : "")), r];
}, B = class e {
	constructor({ strings: t, _$litType$: n }, r) {
		let i;
		this.parts = [];
		let a = 0, o = 0, s = t.length - 1, c = this.parts, [l, u] = ge(t, n);
		if (this.el = e.createElement(l, r), R.currentNode = this.el.content, n === 2 || n === 3) {
			let e = this.el.content.firstChild;
			e.replaceWith(...e.childNodes);
		}
		for (; (i = R.nextNode()) !== null && c.length < s;) {
			if (i.nodeType === 1) {
				if (i.hasAttributes()) for (let e of i.getAttributeNames()) if (e.endsWith(de)) {
					let t = u[o++], n = i.getAttribute(e).split(S), r = /([.?@])?(.*)/.exec(t);
					c.push({
						type: 1,
						index: a,
						name: r[2],
						strings: n,
						ctor: r[1] === "." ? ve : r[1] === "?" ? ye : r[1] === "@" ? be : U
					}), i.removeAttribute(e);
				} else e.startsWith(S) && (c.push({
					type: 6,
					index: a
				}), i.removeAttribute(e));
				if (N.test(i.tagName)) {
					let e = i.textContent.split(S), t = e.length - 1;
					if (t > 0) {
						i.textContent = b ? b.emptyScript : "";
						for (let n = 0; n < t; n++) i.append(e[n], w()), R.nextNode(), c.push({
							type: 2,
							index: ++a
						});
						i.append(e[t], w());
					}
				}
			} else if (i.nodeType === 8) {
				if (i.data === fe) c.push({
					type: 2,
					index: a
				});
				else {
					let e = -1;
					for (; (e = i.data.indexOf(S, e + 1)) !== -1;) c.push({
						type: 7,
						index: a
					}), e += S.length - 1;
				}
			}
			a++;
		}
	}
	static createElement(e, t) {
		let n = C.createElement("template");
		return n.innerHTML = e, n;
	}
};
function V(e, t, n = e, r) {
	if (t === F) return t;
	let i = r === void 0 ? n._$Cl : n._$Co?.[r], a = T(t) ? void 0 : t._$litDirective$;
	return i?.constructor !== a && (i?._$AO?.(!1), a === void 0 ? i = void 0 : (i = new a(e), i._$AT(e, n, r)), r === void 0 ? n._$Cl = i : (n._$Co ??= [])[r] = i), i !== void 0 && (t = V(e, i._$AS(e, t.values), i, r)), t;
}
var _e = class {
	constructor(e, t) {
		this._$AV = [], this._$AN = void 0, this._$AD = e, this._$AM = t;
	}
	get parentNode() {
		return this._$AM.parentNode;
	}
	get _$AU() {
		return this._$AM._$AU;
	}
	u(e) {
		let { el: { content: t }, parts: n } = this._$AD, r = (e?.creationScope ?? C).importNode(t, !0);
		R.currentNode = r;
		let i = R.nextNode(), a = 0, o = 0, s = n[0];
		for (; s !== void 0;) {
			if (a === s.index) {
				let t;
				s.type === 2 ? t = new H(i, i.nextSibling, this, e) : s.type === 1 ? t = new s.ctor(i, s.name, s.strings, this, e) : s.type === 6 && (t = new xe(i, this, e)), this._$AV.push(t), s = n[++o];
			}
			a !== s?.index && (i = R.nextNode(), a++);
		}
		return R.currentNode = C, r;
	}
	p(e) {
		let t = 0;
		for (let n of this._$AV) n !== void 0 && (n.strings === void 0 ? n._$AI(e[t]) : (n._$AI(e, n, t), t += n.strings.length - 2)), t++;
	}
}, H = class e {
	get _$AU() {
		return this._$AM?._$AU ?? this._$Cv;
	}
	constructor(e, t, n, r) {
		this.type = 2, this._$AH = I, this._$AN = void 0, this._$AA = e, this._$AB = t, this._$AM = n, this.options = r, this._$Cv = r?.isConnected ?? !0;
	}
	get parentNode() {
		let e = this._$AA.parentNode, t = this._$AM;
		return t !== void 0 && e?.nodeType === 11 && (e = t.parentNode), e;
	}
	get startNode() {
		return this._$AA;
	}
	get endNode() {
		return this._$AB;
	}
	_$AI(e, t = this) {
		e = V(this, e, t), T(e) ? e === I || e == null || e === "" ? (this._$AH !== I && this._$AR(), this._$AH = I) : e !== this._$AH && e !== F && this._(e) : e._$litType$ === void 0 ? e.nodeType === void 0 ? me(e) ? this.k(e) : this._(e) : this.T(e) : this.$(e);
	}
	O(e) {
		return this._$AA.parentNode.insertBefore(e, this._$AB);
	}
	T(e) {
		this._$AH !== e && (this._$AR(), this._$AH = this.O(e));
	}
	_(e) {
		this._$AH !== I && T(this._$AH) ? this._$AA.nextSibling.data = e : this.T(C.createTextNode(e)), this._$AH = e;
	}
	$(e) {
		let { values: t, _$litType$: n } = e, r = typeof n == "number" ? this._$AC(e) : (n.el === void 0 && (n.el = B.createElement(z(n.h, n.h[0]), this.options)), n);
		if (this._$AH?._$AD === r) this._$AH.p(t);
		else {
			let e = new _e(r, this), n = e.u(this.options);
			e.p(t), this.T(n), this._$AH = e;
		}
	}
	_$AC(e) {
		let t = L.get(e.strings);
		return t === void 0 && L.set(e.strings, t = new B(e)), t;
	}
	k(t) {
		E(this._$AH) || (this._$AH = [], this._$AR());
		let n = this._$AH, r, i = 0;
		for (let a of t) i === n.length ? n.push(r = new e(this.O(w()), this.O(w()), this, this.options)) : r = n[i], r._$AI(a), i++;
		i < n.length && (this._$AR(r && r._$AB.nextSibling, i), n.length = i);
	}
	_$AR(e = this._$AA.nextSibling, t) {
		for (this._$AP?.(!1, !0, t); e !== this._$AB;) {
			let t = y(e).nextSibling;
			y(e).remove(), e = t;
		}
	}
	setConnected(e) {
		this._$AM === void 0 && (this._$Cv = e, this._$AP?.(e));
	}
}, U = class {
	get tagName() {
		return this.element.tagName;
	}
	get _$AU() {
		return this._$AM._$AU;
	}
	constructor(e, t, n, r, i) {
		this.type = 1, this._$AH = I, this._$AN = void 0, this.element = e, this.name = t, this._$AM = r, this.options = i, n.length > 2 || n[0] !== "" || n[1] !== "" ? (this._$AH = Array(n.length - 1).fill(/* @__PURE__ */ new String()), this.strings = n) : this._$AH = I;
	}
	_$AI(e, t = this, n, r) {
		let i = this.strings, a = !1;
		if (i === void 0) e = V(this, e, t, 0), a = !T(e) || e !== this._$AH && e !== F, a && (this._$AH = e);
		else {
			let r = e, o, s;
			for (e = i[0], o = 0; o < i.length - 1; o++) s = V(this, r[n + o], t, o), s === F && (s = this._$AH[o]), a ||= !T(s) || s !== this._$AH[o], s === I ? e = I : e !== I && (e += (s ?? "") + i[o + 1]), this._$AH[o] = s;
		}
		a && !r && this.j(e);
	}
	j(e) {
		e === I ? this.element.removeAttribute(this.name) : this.element.setAttribute(this.name, e ?? "");
	}
}, ve = class extends U {
	constructor() {
		super(...arguments), this.type = 3;
	}
	j(e) {
		this.element[this.name] = e === I ? void 0 : e;
	}
}, ye = class extends U {
	constructor() {
		super(...arguments), this.type = 4;
	}
	j(e) {
		this.element.toggleAttribute(this.name, !!e && e !== I);
	}
}, be = class extends U {
	constructor(e, t, n, r, i) {
		super(e, t, n, r, i), this.type = 5;
	}
	_$AI(e, t = this) {
		if ((e = V(this, e, t, 0) ?? I) === F) return;
		let n = this._$AH, r = e === I && n !== I || e.capture !== n.capture || e.once !== n.once || e.passive !== n.passive, i = e !== I && (n === I || r);
		r && this.element.removeEventListener(this.name, this, n), i && this.element.addEventListener(this.name, this, e), this._$AH = e;
	}
	handleEvent(e) {
		typeof this._$AH == "function" ? this._$AH.call(this.options?.host ?? this.element, e) : this._$AH.handleEvent(e);
	}
}, xe = class {
	constructor(e, t, n) {
		this.element = e, this.type = 6, this._$AN = void 0, this._$AM = t, this.options = n;
	}
	get _$AU() {
		return this._$AM._$AU;
	}
	_$AI(e) {
		V(this, e);
	}
}, Se = v.litHtmlPolyfillSupport;
Se?.(B, H), (v.litHtmlVersions ??= []).push("3.3.3");
var Ce = (e, t, n) => {
	let r = n?.renderBefore ?? t, i = r._$litPart$;
	if (i === void 0) {
		let e = n?.renderBefore ?? null;
		r._$litPart$ = i = new H(t.insertBefore(w(), e), e, void 0, n ?? {});
	}
	return i._$AI(e), i;
}, W = globalThis, G = class extends _ {
	constructor() {
		super(...arguments), this.renderOptions = { host: this }, this._$Do = void 0;
	}
	createRenderRoot() {
		let e = super.createRenderRoot();
		return this.renderOptions.renderBefore ??= e.firstChild, e;
	}
	update(e) {
		let t = this.render();
		this.hasUpdated || (this.renderOptions.isConnected = this.isConnected), super.update(e), this._$Do = Ce(t, this.renderRoot, this.renderOptions);
	}
	connectedCallback() {
		super.connectedCallback(), this._$Do?.setConnected(!0);
	}
	disconnectedCallback() {
		super.disconnectedCallback(), this._$Do?.setConnected(!1);
	}
	render() {
		return F;
	}
};
G._$litElement$ = !0, G.finalized = !0, W.litElementHydrateSupport?.({ LitElement: G });
var we = W.litElementPolyfillSupport;
we?.({ LitElement: G }), (W.litElementVersions ??= []).push("4.2.2");
// src/localize.ts
var Te = {
	"card.title": "Jarvis",
	"card.name": "Jarvis",
	"card.description": "Satellites, last requests with stage times, the Ollama server and a box to talk to Jarvis.",
	"section.satellites": "Satellites",
	"section.agents": "Agents",
	"section.talk": "Talk to Jarvis",
	"section.turns": "Last requests",
	"activity.idle": "Idle",
	"activity.listening": "Listening",
	"activity.thinking": "Thinking",
	"activity.speaking": "Speaking",
	"activity.disconnected": "Disconnected",
	"activity.unknown": "Unknown",
	"satellite.muted": "Muted",
	"satellite.unmuted": "Microphone on",
	"satellite.volume": "Volume {value}",
	"satellite.mic_volume": "Mic volume {value}",
	"satellite.none": "No satellite yet: add one in Settings → Devices & services.",
	"satellite.no_area": "No room",
	"server.reachable": "Ollama reachable",
	"server.unreachable": "Ollama unreachable",
	"server.unknown": "Ollama: no news",
	"server.none": "Jarvis is not set up",
	"agent.latency": "latency {value}",
	"agent.speed": "{value} tokens/s",
	"agent.no_figures": "no request yet",
	"talk.placeholder": "Ask Jarvis…",
	"talk.send": "Send",
	"talk.hold": "Hold to talk",
	"talk.release": "Release to send",
	"talk.listening": "Listening…",
	"talk.thinking": "Thinking…",
	"talk.no_mic": "No microphone here (the page needs HTTPS or localhost).",
	"talk.mic_denied": "The browser did not allow the microphone.",
	"talk.no_pipeline": "No Assist pipeline with speech-to-text: voice is off.",
	"talk.error": "Error: {message}",
	"talk.via_chat": "via Jarvis chat",
	"talk.via_conversation": "via conversation",
	"turns.none": "No request yet.",
	"turns.admin_only": "Only an administrator can see past requests.",
	"turns.local": "handled locally",
	"turns.tools": "tools: {names}",
	"turns.typed": "typed",
	"turns.browser": "browser microphone",
	"turns.total": "total {value}",
	"stage.wake": "wake word",
	"stage.speech": "speech",
	"stage.stt": "transcript",
	"stage.intent": "intent",
	"stage.tts": "reply audio",
	"connection.lost": "Connection to Home Assistant lost; reconnecting…",
	"editor.title": "Title",
	"editor.satellites": "Satellites (empty: all)",
	"editor.agent": "Agent for the text box (empty: Jarvis's first agent)",
	"editor.pipeline": "Assist pipeline (empty: the preferred one)",
	"editor.turns": "Number of requests shown",
	"editor.show_agents": "Show the agents and the server",
	"editor.show_talk": "Show the text box and push-to-talk"
}, Ee = {
	en: Te,
	fr: {
		"card.title": "Jarvis",
		"card.name": "Jarvis",
		"card.description": "Satellites, dernières requêtes avec la durée de chaque étape, le serveur Ollama et une zone pour parler à Jarvis.",
		"section.satellites": "Satellites",
		"section.agents": "Agents",
		"section.talk": "Parler à Jarvis",
		"section.turns": "Dernières requêtes",
		"activity.idle": "En veille",
		"activity.listening": "Écoute",
		"activity.thinking": "Réfléchit",
		"activity.speaking": "Parle",
		"activity.disconnected": "Déconnecté",
		"activity.unknown": "Inconnu",
		"satellite.muted": "Muet",
		"satellite.unmuted": "Micro actif",
		"satellite.volume": "Volume {value}",
		"satellite.mic_volume": "Volume du micro {value}",
		"satellite.none": "Aucun satellite : ajoutez-en un dans Paramètres → Appareils et services.",
		"satellite.no_area": "Aucune pièce",
		"server.reachable": "Ollama joignable",
		"server.unreachable": "Ollama injoignable",
		"server.unknown": "Ollama : pas de nouvelles",
		"server.none": "Jarvis n'est pas configuré",
		"agent.latency": "latence {value}",
		"agent.speed": "{value} jetons/s",
		"agent.no_figures": "aucune requête pour l'instant",
		"talk.placeholder": "Demandez à Jarvis…",
		"talk.send": "Envoyer",
		"talk.hold": "Maintenir pour parler",
		"talk.release": "Relâcher pour envoyer",
		"talk.listening": "J'écoute…",
		"talk.thinking": "Je réfléchis…",
		"talk.no_mic": "Pas de micro ici (la page doit être en HTTPS ou sur localhost).",
		"talk.mic_denied": "Le navigateur n'a pas autorisé le micro.",
		"talk.no_pipeline": "Aucun pipeline Assist avec reconnaissance vocale : la voix est désactivée.",
		"talk.error": "Erreur : {message}",
		"talk.via_chat": "via le chat Jarvis",
		"talk.via_conversation": "via la conversation",
		"turns.none": "Aucune requête pour l'instant.",
		"turns.admin_only": "Seul un administrateur peut voir les requêtes passées.",
		"turns.local": "traité localement",
		"turns.tools": "outils : {names}",
		"turns.typed": "tapé",
		"turns.browser": "micro du navigateur",
		"turns.total": "total {value}",
		"stage.wake": "mot d'activation",
		"stage.speech": "parole",
		"stage.stt": "transcription",
		"stage.intent": "intention",
		"stage.tts": "audio de réponse",
		"connection.lost": "Connexion à Home Assistant perdue ; reconnexion…",
		"editor.title": "Titre",
		"editor.satellites": "Satellites (vide : tous)",
		"editor.agent": "Agent de la zone de texte (vide : le premier agent de Jarvis)",
		"editor.pipeline": "Pipeline Assist (vide : le préféré)",
		"editor.turns": "Nombre de requêtes affichées",
		"editor.show_agents": "Afficher les agents et le serveur",
		"editor.show_talk": "Afficher la zone de texte et le bouton micro"
	}
};
function De(e) {
	return (e ?? "en").toLowerCase().split(/[-_]/)[0] === "fr" ? "fr" : "en";
}
function K(e) {
	let t = Ee[De(e)] ?? Te;
	return (e, n) => t[e].replace(/\{(\w+)\}/g, (e, t) => n !== void 0 && t in n ? String(n[t]) : e);
}
// src/editor.ts
var Oe = [
	{
		name: "title",
		selector: { text: {} }
	},
	{
		name: "satellites",
		selector: { entity: {
			multiple: !0,
			filter: { domain: "assist_satellite" }
		} }
	},
	{
		name: "agent",
		selector: { entity: { filter: { domain: "conversation" } } }
	},
	{
		name: "pipeline",
		selector: { assist_pipeline: {} }
	},
	{
		name: "turns",
		selector: { number: {
			min: 0,
			max: 20,
			mode: "box"
		} }
	},
	{
		name: "",
		type: "grid",
		schema: [{
			name: "show_agents",
			selector: { boolean: {} }
		}, {
			name: "show_talk",
			selector: { boolean: {} }
		}]
	}
], ke = {
	title: "editor.title",
	satellites: "editor.satellites",
	agent: "editor.agent",
	pipeline: "editor.pipeline",
	turns: "editor.turns",
	show_agents: "editor.show_agents",
	show_talk: "editor.show_talk"
};
function Ae(e) {
	return {
		show_agents: !0,
		show_talk: !0,
		...e
	};
}
function je(e, t) {
	let n = i({
		...e,
		type: t
	});
	return n.show_agents === !0 && delete n.show_agents, n.show_talk === !0 && delete n.show_talk, n;
}
async function Me() {
	customElements.get("ha-form") && customElements.get("ha-entity-picker") || await ((await window.loadCardHelpers?.())?.createCardElement({
		type: "entities",
		entities: []
	}))?.constructor.getConfigElement?.();
}
var Ne = class extends G {
	constructor(...e) {
		super(...e), this.ready = !1, this.computeLabel = (e) => {
			let t = ke[e.name];
			return t === void 0 ? e.name : K(this._hass?.language)(t);
		};
	}
	static {
		this.styles = d`
    .note {
      color: var(--secondary-text-color);
      font-size: 12px;
    }
  `;
	}
	get hass() {
		return this._hass;
	}
	set hass(e) {
		this._hass = e, this.requestUpdate();
	}
	setConfig(e) {
		this.config = e, this.requestUpdate();
	}
	connectedCallback() {
		super.connectedCallback(), Me().finally(() => {
			this.ready = !0, this.requestUpdate();
		});
	}
	valueChanged(e) {
		e.stopPropagation(), this.config !== void 0 && (this.config = je(e.detail.value, this.config.type), this.dispatchEvent(new CustomEvent("config-changed", {
			detail: { config: this.config },
			bubbles: !0,
			composed: !0
		})));
	}
	render() {
		return this._hass === void 0 || this.config === void 0 || !this.ready ? I : P`<ha-form
      .hass=${this._hass}
      .data=${Ae(this.config)}
      .schema=${Oe}
      .computeLabel=${this.computeLabel}
      @value-changed=${(e) => this.valueChanged(e)}
    ></ha-form>`;
	}
};
// src/home-model.ts
function Pe(e) {
	switch (e) {
		case "idle": return "idle";
		case "listening": return "listening";
		case "processing": return "thinking";
		case "responding": return "speaking";
		case "unavailable":
		case void 0: return "disconnected";
		default: return "unknown";
	}
}
function q(e, t, n) {
	let r = e.entities[t], i = r?.device_id ? e.devices[r.device_id] : void 0, a = n?.attributes.friendly_name;
	return i?.name_by_user ?? i?.name ?? (typeof a == "string" ? a : void 0) ?? t.split(".")[1] ?? t;
}
function Fe(e, t) {
	let n = e.entities[t], r = n?.device_id ? e.devices[n.device_id] : void 0, i = n?.area_id ?? r?.area_id ?? null;
	return i === null ? null : e.areas[i]?.name ?? null;
}
function Ie(e, t) {
	let n = e.entities[t]?.device_id;
	return n ? Object.values(e.entities).filter((e) => e.device_id === n && e.entity_id !== t).map((e) => e.entity_id) : [];
}
function J(e) {
	let t = typeof e == "number" ? e : Number(e);
	return typeof e != "boolean" && e !== null && e !== "" && Number.isFinite(t) ? t : null;
}
function Y(e, t) {
	let n = e.states[t], r = Pe(n?.state), i = {
		entityId: t,
		name: q(e, t, n),
		area: Fe(e, t),
		connected: r !== "disconnected",
		activity: r,
		muted: null,
		volume: null,
		muteEntityId: null
	}, a = null;
	for (let n of Ie(e, t)) {
		let t = e.states[n], r = e.entities[n]?.translation_key;
		if (t === void 0 || t.state === "unavailable") continue;
		let o = n.split(".")[0];
		if (o === "media_player") {
			let e = J(t.attributes.volume_level);
			e !== null && (i.volume = {
				kind: "level",
				percent: Math.round(e * 100)
			}), typeof t.attributes.is_volume_muted == "boolean" && (a = t.attributes.is_volume_muted);
		} else if (o === "switch" && (r === "mute" || r === "muted")) i.muted = t.state === "on", i.muteEntityId = n;
		else if (o === "number" && i.volume === null) {
			let e = J(t.state);
			if (e === null) continue;
			r === "volume_multiplier" ? i.volume = {
				kind: "mic",
				factor: e
			} : r === "volume" && (i.volume = {
				kind: "level",
				percent: Math.round(e)
			});
		}
	}
	return i.muteEntityId === null && (i.muted = a), i;
}
function X(e, t) {
	return t !== void 0 && t.length > 0 ? [...t] : Object.keys(e.states).filter((e) => e.startsWith("assist_satellite.")).sort();
}
function Le(e) {
	return Object.values(e.entities).filter((e) => e.platform === "jarvis" && e.translation_key === "server_reachable" && e.entity_id.startsWith("binary_sensor.")).map((t) => {
		let n = e.states[t.entity_id], r = t.device_id ? e.devices[t.device_id] : void 0;
		return {
			entityId: t.entity_id,
			name: r?.name_by_user ?? r?.name ?? t.entity_id,
			reachable: n?.state === "on" || n?.state !== "off" && null
		};
	}).sort((e, t) => e.entityId.localeCompare(t.entityId));
}
function Z(e, t) {
	return Object.values(e.entities).filter((e) => e.platform === "jarvis" && e.entity_id.startsWith("conversation.") && (t === void 0 || t === "" || e.entity_id === t)).map((t) => {
		let n = {
			entityId: t.entity_id,
			name: q(e, t.entity_id, e.states[t.entity_id]),
			latencyS: null,
			tokensPerSecond: null
		};
		for (let r of Object.values(e.entities)) {
			if (!t.device_id || r.device_id !== t.device_id) continue;
			let i = J(e.states[r.entity_id]?.state);
			r.translation_key === "response_latency" && (n.latencyS = i), r.translation_key === "tokens_per_second" && (n.tokensPerSecond = i);
		}
		return n;
	}).sort((e, t) => e.entityId.localeCompare(t.entityId));
}
function Re(e, t, n) {
	return JSON.stringify([
		t.map((t) => Y(e, t)),
		Le(e),
		Z(e, n)
	]);
}
// src/card-memory.ts
var ze = class {
	constructor() {
		this.turns = [], this.exchanges = [], this.conversationId = null, this.listeners = /* @__PURE__ */ new Set();
	}
	listen(e) {
		return this.listeners.add(e), () => this.listeners.delete(e);
	}
	changed() {
		for (let e of this.listeners) e();
	}
}, Be = /* @__PURE__ */ new Map();
function Ve(e) {
	let t = JSON.stringify(e), n = Be.get(t);
	return n === void 0 && (n = new ze(), Be.set(t, n)), n;
}
// src/styles.ts
var He = d`
  :host {
    display: block;
    --jarvis-gap: 12px;
    --jarvis-listening: var(--info-color, #039be5);
    --jarvis-thinking: var(--warning-color, #ffa600);
    --jarvis-speaking: var(--success-color, #43a047);
    --jarvis-off: var(--error-color, #db4437);
  }
  ha-card {
    display: block;
    padding: 16px;
    box-sizing: border-box;
    color: var(--primary-text-color);
    background: var(--ha-card-background, var(--card-background-color, #fff));
    overflow: hidden;
  }
  .header {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 8px;
    justify-content: space-between;
  }
  .title {
    font-size: var(--ha-card-header-font-size, 22px);
    line-height: 1.3;
  }
  .servers {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
  }
  .pill {
    display: inline-flex;
    align-items: center;
    gap: 6px;
    padding: 2px 10px;
    border-radius: 12px;
    font-size: 12px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.12));
    color: var(--primary-text-color);
    white-space: nowrap;
  }
  .dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: var(--disabled-text-color, #9e9e9e);
    flex: none;
  }
  .ok .dot {
    background: var(--jarvis-speaking);
  }
  .bad .dot {
    background: var(--jarvis-off);
  }
  .banner {
    margin-top: var(--jarvis-gap);
    padding: 8px 12px;
    border-radius: 8px;
    background: var(--warning-color, #ffa600);
    color: var(--text-primary-color, #fff);
    font-size: 14px;
  }
  section {
    margin-top: var(--jarvis-gap);
  }
  h3 {
    margin: 0 0 6px;
    font-size: 13px;
    font-weight: 500;
    text-transform: uppercase;
    letter-spacing: 0.04em;
    color: var(--secondary-text-color);
  }
  .muted-text {
    color: var(--secondary-text-color);
    font-size: 14px;
  }
  .satellite {
    display: flex;
    align-items: center;
    gap: 10px;
    padding: 6px 0;
    min-width: 0;
  }
  .satellite + .satellite {
    border-top: 1px solid var(--divider-color, rgba(127, 127, 127, 0.2));
  }
  .satellite ha-icon {
    color: var(--state-icon-color, var(--secondary-text-color));
    flex: none;
  }
  .grow {
    flex: 1 1 auto;
    min-width: 0;
  }
  .name {
    font-size: 15px;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .sub {
    font-size: 12px;
    color: var(--secondary-text-color);
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .chip {
    flex: none;
    padding: 2px 10px;
    border-radius: 12px;
    font-size: 12px;
    font-weight: 500;
    border: 1px solid var(--divider-color, rgba(127, 127, 127, 0.3));
    color: var(--secondary-text-color);
  }
  .chip.listening {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-listening);
    border-color: transparent;
  }
  .chip.thinking {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-thinking);
    border-color: transparent;
  }
  .chip.speaking {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-speaking);
    border-color: transparent;
  }
  .chip.disconnected {
    color: var(--jarvis-off);
    border-color: var(--jarvis-off);
  }
  .agent {
    display: flex;
    flex-wrap: wrap;
    gap: 4px 10px;
    align-items: baseline;
    font-size: 14px;
    padding: 2px 0;
  }
  .agent .name {
    flex: 1 1 auto;
  }
  form {
    display: flex;
    gap: 8px;
    align-items: center;
    flex-wrap: wrap;
  }
  input[type="text"] {
    flex: 1 1 160px;
    min-width: 0;
    box-sizing: border-box;
    font: inherit;
    font-size: 16px; /* no zoom-in on phones */
    padding: 8px 12px;
    border-radius: 8px;
    border: 1px solid var(--divider-color, rgba(127, 127, 127, 0.4));
    background: var(--input-fill-color, var(--secondary-background-color, transparent));
    color: var(--primary-text-color);
  }
  input[type="text"]:focus {
    outline: 2px solid var(--primary-color);
    outline-offset: -1px;
  }
  button {
    font: inherit;
    font-size: 14px;
    display: inline-flex;
    align-items: center;
    gap: 6px;
    padding: 8px 14px;
    border-radius: 8px;
    border: none;
    cursor: pointer;
    background: var(--primary-color);
    color: var(--text-primary-color, #fff);
    touch-action: none;
    user-select: none;
    -webkit-user-select: none;
  }
  button.secondary {
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.15));
    color: var(--primary-text-color);
  }
  button.secondary.active {
    background: var(--jarvis-listening);
    color: var(--text-primary-color, #fff);
  }
  button:disabled {
    cursor: default;
    opacity: 0.5;
  }
  .exchange {
    margin-top: 8px;
    font-size: 14px;
  }
  .said {
    color: var(--secondary-text-color);
  }
  .reply {
    margin-top: 2px;
    padding: 8px 12px;
    border-radius: 8px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.12));
    white-space: pre-wrap;
    overflow-wrap: anywhere;
  }
  .error {
    color: var(--error-color, #db4437);
    font-size: 13px;
  }
  .note {
    font-size: 12px;
    color: var(--secondary-text-color);
    margin-top: 4px;
  }
  ol {
    list-style: none;
    margin: 0;
    padding: 0;
  }
  .turn {
    padding: 8px 0;
    font-size: 14px;
    min-width: 0;
  }
  .turn + .turn {
    border-top: 1px solid var(--divider-color, rgba(127, 127, 127, 0.2));
  }
  .turn-head {
    display: flex;
    flex-wrap: wrap;
    gap: 4px 8px;
    font-size: 12px;
    color: var(--secondary-text-color);
  }
  .badge {
    padding: 0 6px;
    border-radius: 6px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.15));
  }
  .heard {
    margin-top: 2px;
    overflow-wrap: anywhere;
  }
  .turn .answer {
    color: var(--secondary-text-color);
    overflow-wrap: anywhere;
  }
  .bars {
    margin-top: 6px;
    display: grid;
    grid-template-columns: minmax(0, max-content) minmax(40px, 1fr) max-content;
    gap: 2px 8px;
    align-items: center;
    font-size: 11px;
    color: var(--secondary-text-color);
  }
  .track {
    position: relative;
    height: 6px;
    border-radius: 3px;
    background: var(--divider-color, rgba(127, 127, 127, 0.2));
    overflow: hidden;
  }
  .bar {
    position: absolute;
    top: 0;
    bottom: 0;
    border-radius: 3px;
    background: var(--primary-color);
  }
  .bar.wake,
  .bar.speech {
    background: var(--jarvis-listening);
  }
  .bar.stt {
    background: var(--accent-color, #ff9800);
  }
  .bar.intent {
    background: var(--jarvis-thinking);
  }
  .bar.tts {
    background: var(--jarvis-speaking);
  }
  .ms {
    text-align: right;
    font-variant-numeric: tabular-nums;
  }
`;
// src/ha-types.ts
function Ue(e) {
	return typeof e == "object" && !!e && "code" in e && "message" in e;
}
// src/stream.ts
var We = class {
	constructor() {
		this.parts = [], this.role = null, this.messageHasText = !1, this.finalText = null, this.toolRuns = [], this.toolById = /* @__PURE__ */ new Map(), this.done = !1, this.responseType = null, this.conversationId = null;
	}
	addDelta(e) {
		let t = !1;
		if (e.role !== void 0 && (this.role = e.role, e.role === "assistant")) {
			let e = this.parts.at(-1);
			this.messageHasText && e !== void 0 && !/\s$/.test(e) && (this.parts.push(" "), t = !0), this.messageHasText = !1;
		}
		if (e.role === "tool_result") {
			let t = (e.tool_call_id === void 0 ? void 0 : this.toolById.get(e.tool_call_id)) ?? this.toolRuns.find((t) => t.name === e.tool_name && t.ok === void 0), n = e.result?.error === !0 || typeof e.tool_result == "object" && e.tool_result !== null && "error" in e.tool_result;
			return t === void 0 ? e.tool_name !== void 0 && this.toolRuns.push({
				name: e.tool_name,
				ok: !n
			}) : t.ok = !n, !1;
		}
		if (this.role !== "assistant" && this.role !== null) return !1;
		e.content !== void 0 && e.content !== "" && (this.parts.push(e.content), this.messageHasText = !0, t = !0);
		for (let t of e.tool_calls ?? []) {
			let e = { name: t.tool_name };
			this.toolRuns.push(e), t.id !== void 0 && this.toolById.set(t.id, e);
		}
		return t;
	}
	addChatEvent(e) {
		switch (e.type) {
			case "delta": return this.addDelta({ content: e.text });
			case "tool_call": return this.addDelta({ tool_calls: [{
				id: e.tool_call_id,
				tool_name: e.tool_name
			}] }), this.role = "assistant", !1;
			case "tool_result": return this.addDelta({
				role: "tool_result",
				tool_call_id: e.tool_call_id,
				tool_name: e.tool_name,
				result: { error: e.error }
			}), this.addDelta({ role: "assistant" });
			case "final": return this.finish(e, e.text), !0;
			case "start": return this.conversationId = e.conversation_id, !1;
			default: return !1;
		}
	}
	finish(e, t) {
		let n = e?.response.speech?.plain?.speech;
		n !== void 0 && n !== "" ? this.finalText = n : t !== void 0 && t !== "" && (this.finalText = t), this.responseType = e?.response.response_type ?? null, this.conversationId = e?.conversation_id ?? this.conversationId, this.done = !0;
	}
	get text() {
		return this.finalText ?? this.parts.join("").trim();
	}
	get tools() {
		return this.toolRuns.map((e) => e.name);
	}
	get toolRunsSnapshot() {
		return this.toolRuns.map((e) => ({ ...e }));
	}
};
// src/talk.ts
function Ge(e, t) {
	if (e === null) return null;
	let n = t ?? e.preferred_pipeline;
	return e.pipelines.find((e) => e.id === n) ?? null;
}
function Ke(e, t) {
	return (e === null ? t.length > 0 : t.includes(e)) ? "chat" : "conversation";
}
function qe(e) {
	return Ue(e) && e.code === "unknown_command";
}
var Je = 1;
function Ye(e, t, n) {
	return {
		id: Je++,
		said: e,
		voice: n,
		route: t,
		status: n ? "listening" : "sending",
		reply: new We(),
		error: null,
		audioUrl: null
	};
}
function Xe(e, t) {
	switch (t.type) {
		case "stt-vad-end": return e.status = "thinking", !1;
		case "stt-end": return e.said = t.data.stt_output.text, e.status = "thinking", !1;
		case "intent-start": return (e.status === "sending" || e.status === "listening") && (e.status = "thinking"), !1;
		case "intent-progress": return t.data.chat_log_delta !== void 0 && e.reply.addDelta(t.data.chat_log_delta), !1;
		case "intent-end": return e.reply.finish(t.data.intent_output), e.voice || (e.status = "done"), !1;
		case "tts-end": return e.audioUrl = t.data.tts_output.url, e.status = "speaking", !1;
		case "error": return e.error = t.data.message || t.data.code, e.status = "error", !0;
		case "run-end": return e.status !== "error" && e.status !== "speaking" && (e.status = "done"), !0;
		default: return !1;
	}
}
async function Ze(e, t, n) {
	let r = Ye(t.text, t.route, !1);
	n(r);
	try {
		let i = !1;
		if (t.route === "chat") try {
			await $e(e, t, r, n), i = !0;
		} catch (e) {
			if (!qe(e)) throw e;
			r.route = "conversation";
		}
		if (!i) {
			let n = t.agent ?? t.fallbackAgent, i = await e.processConversation(t.text, n, t.conversationId, t.language);
			r.reply.finish(i), r.status = i.response.response_type === "error" ? "error" : "done";
		}
	} catch (e) {
		r.status = "error", r.error = Q(e);
	}
	return n(r), r;
}
function Qe(e, t) {
	return t.type === "error" ? (e.status = "error", e.error = t.message || t.code, !0) : (e.reply.addChatEvent(t), t.type === "final" ? (e.status = t.error ? "error" : "done", !0) : (e.status === "sending" && (e.status = "thinking"), !1));
}
function $e(e, t, n, r) {
	return new Promise((i, a) => {
		let o = null, s = !1, c = () => {
			o?.().catch(() => void 0);
		};
		e.chat({
			text: t.text,
			agent_id: t.agent,
			language: t.language,
			conversation_id: t.conversationId
		}, (e) => {
			s || (s = Qe(n, e), r(n), s && (c(), i()));
		}).then((e) => {
			o = e, s && c();
		}, a);
	});
}
function Q(e) {
	return typeof e == "object" && e && "message" in e ? String(e.message) : String(e);
}
// src/turns.ts
var et = [
	"wake",
	"speech",
	"stt",
	"intent",
	"tts"
];
function tt(e) {
	if (e.timestamp === void 0) return null;
	let t = Date.parse(e.timestamp);
	return Number.isNaN(t) ? null : t;
}
function nt(e, t, n) {
	let r = n[0];
	if (r === void 0) return null;
	let i = tt(r), a = /* @__PURE__ */ new Map(), o = new We(), s = {
		id: e,
		pipelineId: t,
		startedAt: r.timestamp ?? "",
		satelliteId: null,
		deviceId: null,
		heard: null,
		reply: null,
		tools: [],
		targets: [],
		processedLocally: null,
		spans: [],
		totalMs: null,
		error: null,
		finished: !1
	};
	for (let e of n) {
		let t = tt(e);
		switch (t !== null && i !== null && !a.has(e.type) && a.set(e.type, t - i), e.type) {
			case "run-start":
				s.satelliteId = e.data.satellite_id ?? null;
				break;
			case "stt-end":
				s.heard = e.data.stt_output.text;
				break;
			case "intent-start":
				s.heard ??= e.data.intent_input, s.satelliteId ??= e.data.satellite_id ?? null, s.deviceId = e.data.device_id ?? null;
				break;
			case "intent-progress":
				e.data.chat_log_delta !== void 0 && o.addDelta(e.data.chat_log_delta);
				break;
			case "intent-end":
				o.finish(e.data.intent_output), s.processedLocally = e.data.processed_locally ?? null, s.targets = e.data.intent_output.response.data?.success ?? [];
				break;
			case "error":
				s.error = e.data.message || e.data.code;
				break;
			case "run-end": s.finished = !0;
		}
	}
	return s.reply = o.text || null, s.tools = o.tools, s.spans = it(a), s.totalMs = a.get("run-end") ?? null, s;
}
var rt = {
	wake: ["wake_word-start", "wake_word-end"],
	speech: ["stt-start", "stt-vad-end"],
	stt: ["stt-vad-end", "stt-end"],
	intent: ["intent-start", "intent-end"],
	tts: ["tts-start", "tts-end"]
};
function it(e) {
	let t = [];
	for (let n of et) {
		let [r, i] = rt[n], a = r;
		if (n === "speech" && !e.has("stt-vad-end")) continue;
		n === "stt" && !e.has("stt-vad-end") && (a = "stt-start");
		let o = e.get(a), s = e.get(i);
		o === void 0 || s === void 0 || s < o || t.push({
			stage: n,
			startMs: o,
			endMs: s
		});
	}
	return t;
}
var at = 1.5;
function ot(e) {
	let t = Math.max(0, ...e.spans.map((e) => e.endMs)), n = Math.max(e.totalMs ?? 0, t);
	return n <= 0 ? e.spans.map((e) => ({
		stage: e.stage,
		ms: 0,
		offsetPct: 0,
		widthPct: at
	})) : e.spans.map((e) => {
		let t = Math.min(98.5, e.startMs / n * 100), r = Math.min(100 - t, Math.max(at, (e.endMs - e.startMs) / n * 100));
		return {
			stage: e.stage,
			ms: e.endMs - e.startMs,
			offsetPct: st(t),
			widthPct: st(r)
		};
	});
}
function st(e) {
	return Math.round(e * 100) / 100;
}
function $(e) {
	if (e < 1e3) return `${Math.round(e)} ms`;
	let t = e / 1e3;
	return t < 10 ? `${t.toFixed(1)} s` : `${Math.round(t)} s`;
}
function ct(e, t, n) {
	let r = /* @__PURE__ */ new Map();
	for (let n of [...e, ...t]) r.set(n.id, n);
	return [...r.values()].sort((e, t) => e.startedAt < t.startedAt ? 1 : e.startedAt > t.startedAt ? -1 : 0).slice(0, Math.max(0, n));
}
// src/turn-loader.ts
var lt = class {
	constructor(e) {
		this.api = e, this.finished = /* @__PURE__ */ new Map();
	}
	async load(e, t) {
		if (t <= 0 || e.length === 0) return [];
		let n = (await Promise.all(e.map(async (e) => (await this.api.listRuns(e)).pipeline_runs.map((t) => ({
			...t,
			pipelineId: e
		}))))).flat().sort((e, t) => e.timestamp < t.timestamp ? 1 : e.timestamp > t.timestamp ? -1 : 0).slice(0, t);
		return (await Promise.all(n.map((e) => this.turn(e)))).filter((e) => e !== null);
	}
	async turn(e) {
		let t = this.finished.get(e.pipeline_run_id);
		if (t !== void 0) return t;
		let n;
		try {
			n = await this.api.getRun(e.pipelineId, e.pipeline_run_id);
		} catch {
			return null;
		}
		let r = nt(e.pipeline_run_id, e.pipelineId, n.events);
		return r?.finished && this.finished.set(r.id, r), r;
	}
};
// src/voice.ts
function ut(e) {
	let t = new Int16Array(e.length);
	for (let n = 0; n < e.length; n++) {
		let r = Math.max(-1, Math.min(1, e[n] ?? 0));
		t[n] = Math.round(r < 0 ? r * 32768 : r * 32767);
	}
	return t;
}
var dt = "\nclass JarvisRecorder extends AudioWorkletProcessor {\n  process(inputs) {\n    const channel = inputs[0] && inputs[0][0];\n    if (channel) this.port.postMessage(channel.slice(0));\n    return true;\n  }\n}\nregisterProcessor(\"jarvis-recorder\", JarvisRecorder);\n";
function ft() {
	return typeof window < "u" && window.isSecureContext && navigator.mediaDevices?.getUserMedia !== void 0 && typeof AudioWorkletNode < "u";
}
var pt = class {
	constructor() {
		this.context = null, this.stream = null;
	}
	async start(e) {
		this.stream = await navigator.mediaDevices.getUserMedia({ audio: {
			echoCancellation: !0,
			noiseSuppression: !1,
			autoGainControl: !1
		} }), this.context = new AudioContext({ sampleRate: 16e3 });
		let t = URL.createObjectURL(new Blob([dt], { type: "text/javascript" }));
		try {
			await this.context.audioWorklet.addModule(t);
		} finally {
			URL.revokeObjectURL(t);
		}
		let n = this.context.createMediaStreamSource(this.stream), r = new AudioWorkletNode(this.context, "jarvis-recorder");
		return r.port.onmessage = (t) => e(ut(t.data)), n.connect(r), this.context.sampleRate;
	}
	async stop() {
		for (let e of this.stream?.getTracks() ?? []) e.stop();
		this.stream = null;
		let e = this.context;
		this.context = null, e !== null && e.state !== "closed" && await e.close();
	}
}, mt = class {
	constructor(e, t, n, r, i) {
		this.api = e, this.pipeline = t, this.conversationId = n, this.onChange = r, this.playAudio = i, this.recorder = new pt(), this.handlerId = null, this.pending = [], this.recording = !1, this.unsubscribe = null, this.over = !1, this.exchange = Ye("", "pipeline", !0);
	}
	async start() {
		this.onChange(this.exchange);
		let e;
		try {
			this.recording = !0, e = await this.recorder.start((e) => this.onAudio(e));
		} catch (e) {
			this.recording = !1;
			let t = e instanceof DOMException && e.name === "NotAllowedError";
			this.fail(t ? "mic_denied" : Q(e));
			return;
		}
		try {
			this.unsubscribe = await this.api.runPipeline({
				start_stage: "stt",
				end_stage: this.pipeline.tts_engine ? "tts" : "intent",
				input: { sample_rate: e },
				pipeline: this.pipeline.id,
				conversation_id: this.conversationId
			}, (e) => this.onEvent(e)), this.over && await this.close();
		} catch (e) {
			this.fail(Q(e));
		}
	}
	release() {
		this.stopRecording();
	}
	onAudio(e) {
		this.recording && (this.handlerId === null ? this.pending.push(e) : this.api.sendAudio(this.handlerId, e));
	}
	onEvent(e) {
		if (e.type === "run-start") {
			if (this.handlerId = e.data.runner_data?.stt_binary_handler_id ?? null, this.handlerId !== null) {
				for (let e of this.pending) this.api.sendAudio(this.handlerId, e);
				this.recording || this.api.endAudio(this.handlerId);
			}
			this.pending = [];
		}
		(e.type === "stt-vad-end" || e.type === "stt-end" || e.type === "error") && this.stopRecording();
		let t = Xe(this.exchange, e);
		e.type === "tts-end" && this.playAudio(e.data.tts_output.url), this.onChange(this.exchange), t && (this.over = !0, this.close());
	}
	async stopRecording() {
		this.recording && (this.recording = !1, this.handlerId !== null && this.api.endAudio(this.handlerId), this.exchange.status === "listening" && (this.exchange.status = "thinking", this.onChange(this.exchange)), await this.recorder.stop());
	}
	fail(e) {
		this.exchange.status = "error", this.exchange.error = e, this.onChange(this.exchange), this.close();
	}
	async close() {
		await this.stopRecording();
		let e = this.unsubscribe;
		this.unsubscribe = null, e !== null && await e().catch(() => void 0);
	}
};
// src/ws.ts
function ht(e, t) {
	let n = [];
	for (let [r, i] of Object.entries(t.a ?? {})) i.s !== void 0 && e.get(r) !== i.s && (e.set(r, i.s), n.push(r));
	for (let [r, i] of Object.entries(t.c ?? {})) {
		let t = i["+"]?.s;
		t !== void 0 && e.get(r) !== t && (e.set(r, t), n.push(r));
	}
	for (let r of t.r ?? []) e.delete(r) && n.push(r);
	return n;
}
var gt = class {
	constructor(e) {
		this.getHass = e;
	}
	get hass() {
		return this.getHass();
	}
	listPipelines() {
		return this.hass.callWS({ type: "assist_pipeline/pipeline/list" });
	}
	listRuns(e) {
		return this.hass.callWS({
			type: "assist_pipeline/pipeline_debug/list",
			pipeline_id: e
		});
	}
	getRun(e, t) {
		return this.hass.callWS({
			type: "assist_pipeline/pipeline_debug/get",
			pipeline_id: e,
			pipeline_run_id: t
		});
	}
	runPipeline(e, t) {
		return this.hass.connection.subscribeMessage(t, {
			type: "assist_pipeline/run",
			...e
		}, { resubscribe: !1 });
	}
	chat(e, t) {
		let n = {
			type: "jarvis/chat",
			text: e.text
		};
		for (let t of [
			"agent_id",
			"language",
			"conversation_id",
			"device_id"
		]) {
			let r = e[t];
			r != null && (n[t] = r);
		}
		return this.hass.connection.subscribeMessage(t, n, { resubscribe: !1 });
	}
	processConversation(e, t, n, r) {
		let i = {
			type: "conversation/process",
			text: e,
			language: r
		};
		return t !== null && (i.agent_id = t), n !== null && (i.conversation_id = n), this.hass.callWS(i);
	}
	subscribeStates(e, t) {
		return this.hass.connection.subscribeMessage(t, {
			type: "subscribe_entities",
			entity_ids: [...e]
		});
	}
	sendAudio(e, t) {
		this.hass.connection.socket?.send(_t(e, t));
	}
	endAudio(e) {
		this.hass.connection.socket?.send(new Uint8Array([e]));
	}
};
function _t(e, t) {
	let n = new Uint8Array(1 + t.byteLength);
	return n[0] = e, n.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), 1), n;
}
// src/jarvis-card.ts
var vt = {
	idle: "mdi:microphone-outline",
	listening: "mdi:microphone",
	thinking: "mdi:dots-horizontal-circle-outline",
	speaking: "mdi:account-voice",
	disconnected: "mdi:microphone-off",
	unknown: "mdi:help-circle-outline"
}, yt = 300, bt = 2, xt = class extends G {
	constructor(...e) {
		super(...e), this.signature = "", this.api = new gt(() => {
			if (this._hass === void 0) throw Error("hass is not set yet");
			return this._hass;
		}), this.loader = new lt(this.api), this.pipelines = null, this.memory = Ve({}), this.stopListening = null, this.turnsProblem = null, this.draft = "", this.voice = null, this.liveStates = /* @__PURE__ */ new Map(), this.socketUp = !0, this.watched = "", this.unsubscribeStates = null, this.connection = null, this.loadingTurns = null, this.reloadTurnsAgain = !1, this.onReady = () => {
			this.socketUp = !0, this.loadPipelines(), this.requestUpdate();
		}, this.onDisconnected = () => {
			this.socketUp = !1, this.requestUpdate();
		};
	}
	static {
		this.styles = He;
	}
	static getConfigElement() {
		return document.createElement("jarvis-card-editor");
	}
	static getStubConfig() {
		return { type: `custom:${e}` };
	}
	setConfig(e) {
		try {
			this.config = r(e);
		} catch (e) {
			throw Error(e instanceof t ? e.message : Q(e));
		}
		this.signature = "", this.memory = Ve(this.config), this.isConnected && this.listenToMemory(), this._hass !== void 0 && this.start(), this.requestUpdate();
	}
	getCardSize() {
		return 3 + (this._hass ? X(this._hass, this.config?.satellites).length : 1) + Math.min(this.memory.turns.length, this.config?.turns ?? 0) * 2;
	}
	getGridOptions() {
		return {
			columns: 12,
			min_columns: 6,
			rows: "auto"
		};
	}
	get hass() {
		return this._hass;
	}
	set hass(e) {
		let t = this._hass === void 0;
		if (this._hass = e, e.connection !== this.connection && this.watchConnection(e.connection), this.config === void 0) return;
		t && this.start(), this.watchSatellites();
		let n = `${e.language}|${e.connected}|` + Re(e, X(e, this.config.satellites), this.config.agent ?? void 0);
		n !== this.signature && (this.signature = n, this.requestUpdate());
	}
	listenToMemory() {
		this.stopListening?.(), this.stopListening = this.memory.listen(() => this.requestUpdate());
	}
	connectedCallback() {
		super.connectedCallback(), this.listenToMemory(), this._hass !== void 0 && this.config !== void 0 && (this.watchConnection(this._hass.connection), this.start());
	}
	disconnectedCallback() {
		super.disconnectedCallback(), this.stopListening?.(), this.stopListening = null, this.stopWatchingSatellites(), this.watchConnection(null), clearTimeout(this.turnsTimer), this.voice?.release();
	}
	get t() {
		return K(this._hass?.locale?.language ?? this._hass?.language);
	}
	start() {
		this.watchSatellites(), this.loadPipelines();
	}
	watchConnection(e) {
		this.connection !== null && (this.connection.removeEventListener("ready", this.onReady), this.connection.removeEventListener("disconnected", this.onDisconnected)), this.connection = e, e !== null && (e.addEventListener("ready", this.onReady), e.addEventListener("disconnected", this.onDisconnected));
	}
	async loadPipelines() {
		try {
			this.pipelines = await this.api.listPipelines();
		} catch {
			this.pipelines = null;
		}
		this.requestUpdate(), await this.loadTurns();
	}
	watchSatellites() {
		if (this._hass === void 0 || this.config === void 0 || !this.isConnected) return;
		let e = X(this._hass, this.config.satellites), t = e.join(",");
		(t !== this.watched || this.unsubscribeStates === null) && (this.stopWatchingSatellites(), this.watched = t, e.length !== 0 && (this.unsubscribeStates = this.api.subscribeStates(e, (e) => {
			let t = new Map(this.liveStates), n = ht(this.liveStates, e);
			n.length !== 0 && (this.requestUpdate(), n.some((e) => this.liveStates.get(e) === "idle" && t.get(e) !== "idle") && this.scheduleTurns());
		}), this.unsubscribeStates.catch(() => {
			this.unsubscribeStates = null;
		})));
	}
	stopWatchingSatellites() {
		let e = this.unsubscribeStates;
		this.unsubscribeStates = null, this.watched = "", this.liveStates.clear(), e?.then((e) => e()).catch(() => void 0);
	}
	scheduleTurns() {
		clearTimeout(this.turnsTimer), this.turnsTimer = setTimeout(() => void this.loadTurns(), yt);
	}
	async loadTurns() {
		if (this.loadingTurns !== null) return this.reloadTurnsAgain = !0, this.loadingTurns;
		let e = this.config;
		if (e === void 0 || e.turns === 0 || this.pipelines === null) return;
		if (this._hass?.user !== void 0 && !this._hass.user.is_admin) {
			this.turnsProblem = "admin_only", this.requestUpdate();
			return;
		}
		let t = e.pipeline === null ? this.pipelines.pipelines.map((e) => e.id) : [e.pipeline];
		this.loadingTurns = (async () => {
			try {
				let n = await this.loader.load(t, e.turns);
				this.memory.turns = ct(this.memory.turns, n, e.turns), this.turnsProblem = null, this.memory.changed();
			} catch (e) {
				Q(e).toLowerCase().includes("unauthorized") && (this.turnsProblem = "admin_only");
			}
			this.requestUpdate();
		})();
		try {
			await this.loadingTurns;
		} finally {
			this.loadingTurns = null;
		}
		this.reloadTurnsAgain && (this.reloadTurnsAgain = !1, await this.loadTurns());
	}
	get pipeline() {
		return Ge(this.pipelines, this.config?.pipeline ?? null);
	}
	get busy() {
		let e = this.memory.exchanges[0];
		return e !== void 0 && [
			"sending",
			"listening",
			"thinking"
		].includes(e.status);
	}
	showExchange(e) {
		let t = this.memory.exchanges.filter((t) => t.id !== e.id);
		this.memory.exchanges = [e, ...t].slice(0, bt), this.memory.changed();
	}
	textRoute(e) {
		let t = Z(e).map((e) => e.entityId), n = this.config?.agent ?? null;
		return {
			route: Ke(n, t),
			agent: n,
			fallbackAgent: t[0] ?? null
		};
	}
	async onSubmit(e) {
		e.preventDefault();
		let t = this.draft.trim(), n = this._hass;
		if (t === "" || this.busy || n === void 0 || this.config === void 0) return;
		this.draft = "", this.requestUpdate();
		let r = await Ze(this.api, {
			text: t,
			...this.textRoute(n),
			conversationId: this.memory.conversationId,
			language: n.language
		}, (e) => this.showExchange(e));
		this.memory.conversationId = r.reply.conversationId ?? this.memory.conversationId;
	}
	onInput(e) {
		this.draft = e.target.value, this.requestUpdate();
	}
	startVoice(e) {
		e.preventDefault();
		let t = this.pipeline;
		if (this.voice !== null || this.busy || t === null || !t.stt_engine) return;
		e instanceof PointerEvent && e.target instanceof Element && e.target.setPointerCapture(e.pointerId);
		let n = new mt(this.api, t, this.memory.conversationId, (e) => {
			this.showExchange(e), [
				"done",
				"error",
				"speaking"
			].includes(e.status) && this.voice === n && (this.voice = null, this.memory.conversationId = e.reply.conversationId ?? this.memory.conversationId, this.loadTurns());
		}, (e) => this.play(e));
		this.voice = n, n.start();
	}
	stopVoice() {
		this.voice?.release();
	}
	onVoiceKey(e) {
		(e.key === " " || e.key === "Enter") && (e.type === "keydown" && !e.repeat && this.startVoice(e), e.type === "keyup" && this.stopVoice());
	}
	play(e) {
		let t = this._hass?.hassUrl?.(e) ?? e;
		new Audio(t).play().catch(() => void 0);
	}
	render() {
		let e = this._hass, t = this.config;
		if (e === void 0 || t === void 0) return I;
		let n = this.t, r = e.connected && this.socketUp;
		return P`
      <ha-card>
        <div class="header">
          <div class="title">${t.title ?? n("card.title")}</div>
          ${t.showAgents ? this.renderServers(e, n) : I}
        </div>
        ${r ? I : P`<div class="banner" role="status">${n("connection.lost")}</div>`}
        ${this.renderSatellites(e, t, n, r)}
        ${t.showAgents ? this.renderAgents(e, t, n) : I}
        ${t.showTalk ? this.renderTalk(n, r) : I}
        ${t.turns > 0 ? this.renderTurns(e, n) : I}
      </ha-card>
    `;
	}
	renderServers(e, t) {
		let n = Le(e);
		return n.length === 0 ? P`<div class="servers"><span class="pill"><span class="dot"></span>${t("server.none")}</span></div>` : P`<div class="servers">
      ${n.map((e) => {
			let [n, r] = e.reachable === !0 ? ["ok", t("server.reachable")] : e.reachable === !1 ? ["bad", t("server.unreachable")] : ["", t("server.unknown")];
			return P`<span class="pill server ${n}" data-entity=${e.entityId} title=${e.name}
          ><span class="dot"></span>${r}</span
        >`;
		})}
    </div>`;
	}
	satelliteOf(e, t, n) {
		let r = Y(e, t), i = this.liveStates.get(t);
		return i !== void 0 && (r.activity = Pe(i), r.connected = r.activity !== "disconnected"), n || (r.activity = "unknown"), r;
	}
	renderSatellites(e, t, n, r) {
		let i = X(e, t.satellites);
		return P`<section class="satellites">
      <h3>${n("section.satellites")}</h3>
      ${i.length === 0 ? P`<div class="muted-text">${n("satellite.none")}</div>` : I}
      ${i.map((t) => {
			let i = this.satelliteOf(e, t, r), a = i.volume === null ? null : i.volume.kind === "level" ? n("satellite.volume", { value: `${i.volume.percent} %` }) : n("satellite.mic_volume", { value: `×${i.volume.factor.toFixed(1)}` });
			return P`<div
          class="satellite"
          data-entity=${i.entityId}
          data-activity=${i.activity}
          data-connected=${String(i.connected)}
        >
          <ha-icon .icon=${vt[i.activity]}></ha-icon>
          <div class="grow">
            <div class="name">${i.area ?? n("satellite.no_area")}</div>
            <div class="sub">
              ${i.name}${i.muted === !0 ? P` · <span class="muted">${n("satellite.muted")}</span>` : I}${a === null ? I : P` · <span class="volume">${a}</span>`}
            </div>
          </div>
          <span class="chip activity ${i.activity}">${n(`activity.${i.activity}`)}</span>
        </div>`;
		})}
    </section>`;
	}
	renderAgents(e, t, n) {
		let r = Z(e, t.agent ?? void 0);
		return r.length === 0 ? I : P`<section class="agents">
      <h3>${n("section.agents")}</h3>
      ${r.map((e) => {
			let t = [];
			return e.latencyS !== null && t.push(n("agent.latency", { value: $(e.latencyS * 1e3) })), e.tokensPerSecond !== null && t.push(n("agent.speed", { value: e.tokensPerSecond.toFixed(1) })), P`<div class="agent" data-entity=${e.entityId}>
          <span class="name">${e.name}</span>
          <span class="sub figures">${t.length > 0 ? t.join(" · ") : n("agent.no_figures")}</span>
        </div>`;
		})}
    </section>`;
	}
	renderTalk(e, t) {
		let n = this.pipeline, r = t && n !== null && !!n.stt_engine && ft(), i = this.voice?.exchange.status === "listening", a = this._hass, { route: o, agent: s, fallbackAgent: c } = this.textRoute(a), l = s ?? c, u = l === null ? null : Z(a, l)[0]?.name ?? Y(a, l).name, d = null;
		return ft() ? n !== null && n.stt_engine || (d = e("talk.no_pipeline")) : d = e("talk.no_mic"), P`<section class="talk">
      <h3>${e("section.talk")}</h3>
      <form @submit=${(e) => void this.onSubmit(e)}>
        <input
          type="text"
          name="text"
          autocomplete="off"
          enterkeyhint="send"
          .value=${this.draft}
          placeholder=${e("talk.placeholder")}
          aria-label=${e("talk.placeholder")}
          @input=${(e) => this.onInput(e)}
        />
        <button type="submit" class="send" ?disabled=${!t || this.busy || this.draft.trim() === ""}>
          <ha-icon icon="mdi:send"></ha-icon>${e("talk.send")}
        </button>
        <button
          type="button"
          class="secondary ptt ${i ? "active" : ""}"
          ?disabled=${!r || this.busy && !i}
          aria-pressed=${String(i)}
          @pointerdown=${(e) => this.startVoice(e)}
          @pointerup=${() => this.stopVoice()}
          @pointercancel=${() => this.stopVoice()}
          @keydown=${(e) => this.onVoiceKey(e)}
          @keyup=${(e) => this.onVoiceKey(e)}
          @contextmenu=${(e) => e.preventDefault()}
        >
          <ha-icon icon="mdi:microphone"></ha-icon>${e(i ? "talk.release" : "talk.hold")}
        </button>
      </form>
      ${d === null ? I : P`<div class="note">${d}</div>`}
      ${this.memory.exchanges.map((t) => this.renderExchange(t, e))}
      <div class="note route" data-route=${o}>
        ${e(o === "chat" ? "talk.via_chat" : "talk.via_conversation")}${u === null ? I : ` · ${u}`}
      </div>
    </section>`;
	}
	renderExchange(e, t) {
		let n = e.status === "listening" ? t("talk.listening") : e.status === "sending" || e.status === "thinking" ? t("talk.thinking") : "", r = e.error === "mic_denied" ? t("talk.mic_denied") : e.error === null ? null : t("talk.error", { message: e.error });
		return P`<div class="exchange" data-status=${e.status} data-voice=${String(e.voice)}>
      <div class="said">${e.said || (e.voice ? "🎤" : "")}</div>
      <div class="reply" aria-live="polite">${e.reply.text || n}</div>
      ${r === null ? I : P`<div class="error">${r}</div>`}
    </div>`;
	}
	renderTurns(e, t) {
		let n = e.locale?.language ?? e.language;
		return P`<section class="turns">
      <h3>${t("section.turns")}</h3>
      ${this.turnsProblem === "admin_only" ? P`<div class="muted-text">${t("turns.admin_only")}</div>` : this.memory.turns.length === 0 ? P`<div class="muted-text">${t("turns.none")}</div>` : I}
      <ol>
        ${this.memory.turns.map((r) => this.renderTurn(e, r, t, n))}
      </ol>
    </section>`;
	}
	renderTurn(e, t, n, r) {
		let i = t.satelliteId === null ? t.spans.some((e) => e.stage === "speech" || e.stage === "stt") ? n("turns.browser") : n("turns.typed") : Fe(e, t.satelliteId) ?? Y(e, t.satelliteId).name, a = new Date(t.startedAt), o = Number.isNaN(a.getTime()) ? "" : a.toLocaleTimeString(r, {
			hour: "2-digit",
			minute: "2-digit",
			second: "2-digit"
		}), s = ot(t);
		return P`<li class="turn" data-run=${t.id}>
      <div class="turn-head">
        <span class="time">${o}</span><span class="where">${i}</span>
        ${t.processedLocally === !0 ? P`<span class="badge">${n("turns.local")}</span>` : I}
        ${t.tools.length > 0 ? P`<span class="badge tools">${n("turns.tools", { names: t.tools.join(", ") })}</span>` : I}
        ${t.totalMs === null ? I : P`<span class="total">${n("turns.total", { value: $(t.totalMs) })}</span>`}
      </div>
      ${t.heard === null ? I : P`<div class="heard">“${t.heard}”</div>`}
      ${t.reply === null ? I : P`<div class="answer">→ ${t.reply}</div>`}
      ${t.error === null ? I : P`<div class="error">${n("talk.error", { message: t.error })}</div>`}
      ${s.length > 0 ? P`<div class="bars">
            ${s.map((e) => P`<span class="label">${n(`stage.${e.stage}`)}</span
                  ><span class="track"
                    ><span
                      class="bar ${e.stage}"
                      data-stage=${e.stage}
                      style="left:${e.offsetPct}%;width:${e.widthPct}%"
                    ></span></span
                  ><span class="ms">${$(e.ms)}</span>`)}
          </div>` : I}
    </li>`;
	}
}, St = "0.1.0", Ct = ["home-assistant", "hc-main"], wt = 1e4;
function Tt() {
	return new Promise((e) => {
		let t = Date.now(), n = () => {
			let r = window.customElements;
			Ct.some((e) => r.get(e)) || Date.now() - t > wt ? e() : setTimeout(n, 25);
		};
		n();
	});
}
function Et() {
	let t = window.customElements;
	t.get("jarvis-card") || t.define(e, xt), t.get("jarvis-card-editor") || t.define(`${e}-editor`, Ne);
}
Tt().then(Et);
var Dt = K(typeof navigator < "u" ? navigator.language : "en");
window.customCards = window.customCards ?? [], window.customCards.some((e) => e.type === "jarvis-card") || window.customCards.push({
	type: e,
	name: Dt("card.name"),
	description: Dt("card.description"),
	preview: !1,
	documentationURL: "https://github.com/jarvis-voice/jarvis#the-dashboard-card"
});
export { St as CARD_VERSION, xt as JarvisCard, Ne as JarvisCardEditor };
