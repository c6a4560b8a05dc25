/* A stand-in for the part of Office.js and the Excel JavaScript API the okr-sync client uses.
 * Served in place of office.js in the browser tests. Like Excel, it queues every read and write
 * on a request context and carries them out only at context.sync(); reading a property that was
 * not loaded (or not yet synced) throws, as Excel's PropertyNotLoaded does. */
(function (global) {
  "use strict";

  var state;

  function reset(spec) {
    spec = spec || {};
    state = {
      name: spec.name || "Book1.xlsx",
      sheets: [],
      notes: [],
      apiVersion: spec.apiVersion || 1.18,
      syncs: 0,
      writeSyncs: 0,
      writeOps: 0,
      selected: null,
      active: null,
      // Roaming settings belong to the user, not the workbook: they survive a new workbook.
      roaming: spec.roaming || (state ? state.roaming : {}),
    };
    // Excel itself has no roaming settings (Outlook does): spec.roaming === false removes them.
    if (global.Office) {
      if (spec.roaming === false) delete global.Office.context.roamingSettings;
      else global.Office.context.roamingSettings = roamingSettings;
    }
    var sheets = spec.sheets || {};
    Object.keys(sheets).forEach(function (name) {
      var ws = addSheet(name);
      var s = sheets[name];
      var rows = Array.isArray(s) ? s : s.rows;
      var anchor = parseCell((s && s.anchor) || "A1");
      rows.forEach(function (line, r) {
        line.forEach(function (v, c) {
          if (v !== null && v !== "") cellAt(ws, anchor.r + r, anchor.c + c).value = v;
        });
      });
    });
    (spec.notes || []).forEach(function (n) { state.notes.push({ sheet: n.sheet, cell: n.cell, content: n.content }); });
    Object.keys(spec.protect || {}).forEach(function (name) {
      var ws = findSheet(name);
      ws.protected = true;
      ws.protectionOptions = spec.protect[name].options || {};
      ws.password = spec.protect[name].password || null;
    });
    return state;
  }

  function addSheet(name) {
    var ws = { name: name, cells: {}, frozenRows: 0, protected: false, protectionOptions: null, password: null };
    state.sheets.push(ws);
    return ws;
  }

  function findSheet(name) {
    for (var i = 0; i < state.sheets.length; i++) if (state.sheets[i].name === name) return state.sheets[i];
    return null;
  }

  function colNumber(letters) {
    var n = 0;
    for (var i = 0; i < letters.length; i++) n = n * 26 + letters.charCodeAt(i) - 64;
    return n;
  }

  function colLetters(n) {
    var s = "";
    while (n > 0) {
      var m = (n - 1) % 26;
      s = String.fromCharCode(65 + m) + s;
      n = Math.floor((n - 1) / 26);
    }
    return s;
  }

  function parseCell(text) {
    var m = /^\$?([A-Z]+)\$?(\d+)$/.exec(String(text).toUpperCase());
    if (!m) throw new Error("InvalidArgument: bad cell address " + text);
    return { r: parseInt(m[2], 10), c: colNumber(m[1]) };
  }

  function quote(name) {
    return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(name) ? name : "'" + name.replace(/'/g, "''") + "'";
  }

  /* "Sheet!B3" or "'A b'!B3:C4" -> {sheet, r0, c0, r1, c1} */
  function parseAddress(address, defaultSheet) {
    var bang = address.lastIndexOf("!");
    var sheet = defaultSheet;
    if (bang >= 0) {
      sheet = address.slice(0, bang);
      if (sheet.charAt(0) === "'") sheet = sheet.slice(1, -1).replace(/''/g, "'");
    }
    var parts = address.slice(bang + 1).split(":");
    var a = parseCell(parts[0]);
    var b = parts[1] ? parseCell(parts[1]) : a;
    return { sheet: sheet, r0: a.r, c0: a.c, r1: b.r, c1: b.c };
  }

  /* Like Excel: a protected sheet refuses changes to its (locked) cells and notes. */
  function guard(ws) {
    if (ws.protected) {
      throw new Error("AccessDenied: The cell or chart you're trying to change is on a protected sheet (" + ws.name + ").");
    }
  }

  function cellAt(ws, r, c) {
    var key = r + "," + c;
    if (!ws.cells[key]) ws.cells[key] = { value: "", fill: null, format: "General", formula: null, bold: false };
    return ws.cells[key];
  }

  function peek(ws, r, c) {
    return ws.cells[r + "," + c] || null;
  }

  /* What Excel does with a value typed or set through Range.values. */
  function store(cell, v) {
    cell.formula = null;
    cell.prefixed = false;
    if (typeof v === "string") {
      if (v.charAt(0) === "'") {
        cell.value = v.slice(1);
        cell.prefixed = true;
        return;
      }
      if (v.charAt(0) === "=") {
        cell.formula = v;
        cell.value = "#NAME?";
        return;
      }
      if (cell.format !== "@" && /^-?\d+(\.\d+)?$/.test(v.trim())) {
        cell.value = parseFloat(v);
        return;
      }
      if (cell.format !== "@" && /^(true|false)$/i.test(v.trim())) {
        cell.value = v.trim().toLowerCase() === "true";
        return;
      }
    }
    cell.value = v === null || v === undefined ? "" : v;
  }

  /* --- the request context: a queue carried out at sync ----------------------------------- */

  function Context() {
    this.queue = [];
    this.workbook = new Workbook(this);
  }
  Context.prototype.push = function (write, fn) {
    this.queue.push({ write: write, fn: fn });
  };
  Context.prototype.sync = function () {
    var ops = this.queue;
    this.queue = [];
    state.syncs += 1;
    var writes = ops.filter(function (o) { return o.write; }).length;
    if (writes) {
      state.writeSyncs += 1;
      state.writeOps += writes;
    }
    try {
      ops.forEach(function (o) { o.fn(); });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise(function (resolve) { setTimeout(resolve, 0); });
  };

  function Loadable() {}
  Loadable.prototype._get = function (prop) {
    if (!this._loaded || !(prop in this._loaded)) {
      throw new Error("PropertyNotLoaded: " + prop + " was not loaded and synced");
    }
    return this._loaded[prop];
  };

  function props(list) {
    return String(list).split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function Workbook(ctx) {
    this.context = ctx;
    this.worksheets = new Worksheets(ctx);
    this.notes = new Notes(ctx, "notes");
    this.comments = new Notes(ctx, "comments");
  }
  Workbook.prototype = Object.create(Loadable.prototype);
  Workbook.prototype.load = function () {
    var self = this;
    this.context.push(false, function () { self._loaded = { name: state.name }; });
    return this;
  };
  Object.defineProperty(Workbook.prototype, "name", { get: function () { return this._get("name"); } });

  function Worksheets(ctx) {
    this.context = ctx;
  }
  Worksheets.prototype.load = function () {
    var self = this;
    this.context.push(false, function () {
      self._items = state.sheets.map(function (ws) {
        var proxy = new Worksheet(self.context, ws.name);
        proxy._loaded = { name: ws.name };
        return proxy;
      });
    });
    return this;
  };
  Object.defineProperty(Worksheets.prototype, "items", {
    get: function () {
      if (!this._items) throw new Error("PropertyNotLoaded: items");
      return this._items;
    },
  });
  Worksheets.prototype.getItem = function (name) {
    return new Worksheet(this.context, name);
  };
  Worksheets.prototype.add = function (name) {
    this.context.push(true, function () {
      if (findSheet(name)) throw new Error("ItemAlreadyExists: " + name);
      addSheet(name);
    });
    return new Worksheet(this.context, name);
  };

  function Worksheet(ctx, name) {
    this.context = ctx;
    this._name = name;
    var self = this;
    this.freezePanes = {
      freezeRows: function (n) { ctx.push(true, function () { self._sheet().frozenRows = n; }); },
    };
    this.protection = new Protection(ctx, this);
  }

  function Protection(ctx, worksheet) {
    this.context = ctx;
    this._worksheet = worksheet;
  }
  Protection.prototype = Object.create(Loadable.prototype);
  Protection.prototype.load = function () {
    var self = this;
    this.context.push(false, function () {
      var ws = self._worksheet._sheet();
      self._loaded = { protected: ws.protected, options: JSON.parse(JSON.stringify(ws.protectionOptions || {})) };
    });
    return this;
  };
  Object.defineProperty(Protection.prototype, "protected", { get: function () { return this._get("protected"); } });
  Object.defineProperty(Protection.prototype, "options", { get: function () { return this._get("options"); } });
  Protection.prototype.unprotect = function (password) {
    var self = this;
    this.context.push(true, function () {
      var ws = self._worksheet._sheet();
      if (ws.password && ws.password !== password) throw new Error("InvalidArgument: The password you supplied is not correct.");
      ws.protected = false;
      state.unprotects = (state.unprotects || 0) + 1;
    });
  };
  Protection.prototype.protect = function (options, password) {
    var self = this;
    this.context.push(true, function () {
      var ws = self._worksheet._sheet();
      if (ws.protected) throw new Error("InvalidOperation: the sheet is already protected");
      ws.protected = true;
      ws.protectionOptions = JSON.parse(JSON.stringify(options || {}));
      ws.password = password || null;
    });
  };
  Worksheet.prototype = Object.create(Loadable.prototype);
  Object.defineProperty(Worksheet.prototype, "name", { get: function () { return this._get("name"); } });
  Worksheet.prototype._sheet = function () {
    var ws = findSheet(this._name);
    if (!ws) throw new Error("ItemNotFound: no worksheet named " + this._name);
    return ws;
  };
  Worksheet.prototype.getRange = function (address) {
    if (!address) return new Range(this.context, this._name, null);
    var a = parseAddress(address, this._name);
    return new Range(this.context, this._name, a);
  };
  Worksheet.prototype.getRangeByIndexes = function (r, c, nr, nc) {
    return new Range(this.context, this._name, { r0: r + 1, c0: c + 1, r1: r + nr, c1: c + nc });
  };
  Worksheet.prototype.getUsedRangeOrNullObject = function () {
    var range = new Range(this.context, this._name, undefined);
    var self = this;
    range._resolve = function () {
      var ws = self._sheet();
      var box = null;
      Object.keys(ws.cells).forEach(function (key) {
        var cell = ws.cells[key];
        if (cell.value === "" || cell.value === null) return;
        var rc = key.split(",").map(Number);
        if (!box) box = { r0: rc[0], c0: rc[1], r1: rc[0], c1: rc[1] };
        box.r0 = Math.min(box.r0, rc[0]);
        box.c0 = Math.min(box.c0, rc[1]);
        box.r1 = Math.max(box.r1, rc[0]);
        box.c1 = Math.max(box.c1, rc[1]);
      });
      return box;
    };
    return range;
  };
  Worksheet.prototype.activate = function () {
    var self = this;
    this.context.push(false, function () { state.active = self._sheet().name; });
  };

  function Range(ctx, sheet, box) {
    this.context = ctx;
    this._sheetName = sheet;
    this._box = box; // null: the whole sheet; undefined: resolved at sync (used range)
    var self = this;
    var write = function (fn) { ctx.push(true, function () { guard(self._ws()); self._each(fn); }); };
    this.format = {
      fill: {
        clear: function () { write(function (cell) { cell.fill = null; }); },
      },
      font: {},
      autofitColumns: function () { ctx.push(true, function () {}); },
    };
    Object.defineProperty(this.format.fill, "color", {
      set: function (v) { write(function (cell) { cell.fill = String(v).toUpperCase(); }); },
    });
    Object.defineProperty(this.format.font, "bold", { set: function (v) { write(function (cell) { cell.bold = !!v; }); } });
    Object.defineProperty(this.format.font, "color", { set: function (v) { write(function (cell) { cell.fontColor = v; }); } });
    Object.defineProperty(this.format, "indentLevel", { set: function (v) { write(function (cell) { cell.indent = v; }); } });
  }
  Range.prototype = Object.create(Loadable.prototype);
  Range.prototype._ws = function () {
    var ws = findSheet(this._sheetName);
    if (!ws) throw new Error("ItemNotFound: no worksheet named " + this._sheetName);
    return ws;
  };
  Range.prototype._bounds = function () {
    if (this._box === undefined) this._box = this._resolve();
    return this._box;
  };
  Range.prototype._each = function (fn, matrix) {
    var ws = this._ws();
    var b = this._bounds();
    if (b === null) {
      Object.keys(ws.cells).forEach(function (k) { fn(ws.cells[k]); });
      return;
    }
    for (var r = b.r0; r <= b.r1; r++) {
      for (var c = b.c0; c <= b.c1; c++) fn(cellAt(ws, r, c), r - b.r0, c - b.c0, matrix);
    }
  };
  Range.prototype.load = function (list) {
    var self = this;
    var wanted = props(list);
    this.context.push(false, function () {
      var ws = self._ws();
      var b = self._bounds();
      self._loaded = { isNullObject: b === null };
      if (b === null) return;
      wanted.forEach(function (p) {
        if (p === "address") {
          var a = colLetters(b.c0) + b.r0;
          var z = colLetters(b.c1) + b.r1;
          self._loaded.address = quote(ws.name) + "!" + (a === z ? a : a + ":" + z);
        } else if (p === "values") {
          var rows = [];
          for (var r = b.r0; r <= b.r1; r++) {
            var line = [];
            for (var c = b.c0; c <= b.c1; c++) {
              var cell = peek(ws, r, c);
              line.push(cell ? cell.value : "");
            }
            rows.push(line);
          }
          self._loaded.values = rows;
        }
      });
    });
    return this;
  };
  Object.defineProperty(Range.prototype, "isNullObject", { get: function () { return this._get("isNullObject"); } });
  Object.defineProperty(Range.prototype, "address", { get: function () { return this._get("address"); } });
  Object.defineProperty(Range.prototype, "values", {
    get: function () { return this._get("values"); },
    set: function (matrix) {
      var self = this;
      this.context.push(true, function () {
        guard(self._ws());
        var b = self._bounds();
        if (matrix.length !== b.r1 - b.r0 + 1 || matrix.some(function (l) { return l.length !== b.c1 - b.c0 + 1; })) {
          throw new Error("InvalidArgument: values do not match the range size");
        }
        self._each(function (cell, r, c) { store(cell, matrix[r][c]); });
      });
    },
  });
  Object.defineProperty(Range.prototype, "numberFormat", {
    set: function (matrix) {
      var self = this;
      this.context.push(true, function () {
        guard(self._ws());
        self._each(function (cell, r, c) { cell.format = matrix[r][c]; });
      });
    },
  });
  Range.prototype.clear = function () {
    var self = this;
    this.context.push(true, function () {
      var ws = self._ws();
      if (self._bounds() === null) ws.cells = {};
      else self._each(function (cell) { cell.value = ""; cell.fill = null; cell.format = "General"; cell.formula = null; });
    });
  };
  Range.prototype.select = function () {
    var self = this;
    this.context.push(false, function () {
      var b = self._bounds();
      state.selected = self._sheetName + "!" + colLetters(b.c0) + b.r0;
    });
  };

  function Notes(ctx, kind) {
    this.context = ctx;
    this.kind = kind;
  }
  Notes.prototype.load = function () {
    var self = this;
    this.context.push(false, function () {
      if (self.kind === "notes" && state.apiVersion < 1.18) throw new Error("ApiNotFound: notes need ExcelApi 1.18");
      self._items = state.notes.map(function (n) { return new Note(self.context, n); });
    });
    return this;
  };
  Object.defineProperty(Notes.prototype, "items", {
    get: function () {
      if (!this._items) throw new Error("PropertyNotLoaded: items");
      return this._items;
    },
  });
  Notes.prototype.add = function (address, content) {
    var kind = this.kind;
    this.context.push(true, function () {
      var a = parseAddress(address, null);
      if (!findSheet(a.sheet)) throw new Error("ItemNotFound: " + a.sheet);
      guard(findSheet(a.sheet));
      var cell = colLetters(a.c0) + a.r0;
      state.notes.forEach(function (n) {
        if (n.sheet === a.sheet && n.cell === cell) throw new Error("InvalidOperation: the cell already has a note");
      });
      state.notes.push({ sheet: a.sheet, cell: cell, content: content, kind: kind });
    });
  };

  function Note(ctx, record) {
    this.context = ctx;
    this._record = record;
    this._loaded = { content: record.content };
  }
  Note.prototype = Object.create(Loadable.prototype);
  Object.defineProperty(Note.prototype, "content", { get: function () { return this._get("content"); } });
  Note.prototype.getLocation = function () {
    var rec = this._record;
    return new Range(this.context, rec.sheet, parseAddress(rec.cell, rec.sheet));
  };
  Note.prototype.delete = function () {
    var rec = this._record;
    this.context.push(true, function () {
      guard(findSheet(rec.sheet));
      var i = state.notes.indexOf(rec);
      if (i < 0) throw new Error("ItemNotFound: note already deleted");
      state.notes.splice(i, 1);
    });
  };

  var roamingSettings = {
    get: function (k) { return state.roaming[k]; },
    set: function (k, v) { state.roaming[k] = v; },
    remove: function (k) { delete state.roaming[k]; },
    saveAsync: function (cb) { setTimeout(function () { cb({ status: "succeeded" }); }, 0); },
  };

  reset();

  global.Excel = {
    run: function (batch) {
      var ctx = new Context();
      return Promise.resolve().then(function () { return batch(ctx); });
    },
  };
  global.Office = {
    HostType: { Excel: "Excel" },
    context: {
      displayLanguage: "en-US",
      requirements: {
        isSetSupported: function (name, version) {
          return name === "ExcelApi" && parseFloat(version) <= state.apiVersion;
        },
      },
      roamingSettings: roamingSettings,
    },
    actions: { _handlers: {}, associate: function (n, f) { this._handlers[n] = f; } },
    onReady: function (cb) {
      var info = { host: "Excel", platform: "OfficeOnline" };
      return new Promise(function (resolve) {
        setTimeout(function () { if (cb) cb(info); resolve(info); }, 0);
      });
    },
  };
  global.__excelStandin = {
    reset: reset,
    state: function () { return state; },
    counters: function () {
      return { syncs: state.syncs, writeSyncs: state.writeSyncs, writeOps: state.writeOps, unprotects: state.unprotects || 0 };
    },
    cell: function (sheet, address) {
      var ws = findSheet(sheet);
      var a = parseCell(address);
      var c = ws && peek(ws, a.r, a.c);
      return c ? JSON.parse(JSON.stringify(c)) : null;
    },
    column: function (sheet, col, r0, r1) {
      var ws = findSheet(sheet);
      var out = [];
      for (var r = r0; r <= r1; r++) {
        var c = peek(ws, r, colNumber(col));
        out.push(c ? c.value : "");
      }
      return out;
    },
    sheetValues: function (sheet) {
      var ws = findSheet(sheet);
      if (!ws) return null;
      var maxR = 0;
      var maxC = 0;
      Object.keys(ws.cells).forEach(function (k) {
        var rc = k.split(",").map(Number);
        if (ws.cells[k].value !== "") { maxR = Math.max(maxR, rc[0]); maxC = Math.max(maxC, rc[1]); }
      });
      var rows = [];
      for (var r = 1; r <= maxR; r++) {
        var line = [];
        for (var c = 1; c <= maxC; c++) { var cell = peek(ws, r, c); line.push(cell ? cell.value : ""); }
        rows.push(line);
      }
      return rows;
    },
  };
})(window);
