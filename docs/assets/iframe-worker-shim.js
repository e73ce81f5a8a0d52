/* Web Workers for pages opened from disk (file://), where browsers refuse to start real ones.
   The worker's script runs in a hidden iframe of the page, and messages pass between the two
   windows as events. Written for overdue's docs site, whose search (MkDocs Material) runs in a
   worker; the name holds "iframe-worker" so Material's offline plugin adds no CDN copy of its own. */
(function () {
  "use strict";
  if (location.protocol !== "file:") return;

  function loadScript(doc, src) {
    return new Promise(function (resolve, reject) {
      var script = doc.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("could not load " + src)); };
      doc.head.appendChild(script);
    });
  }

  class FrameWorker extends EventTarget {
    constructor(url) {
      super();
      var worker = this;
      var base = new URL(url, location.href);
      this.onmessage = null;
      this.onerror = null;
      this.queued = [];
      this.frame = document.createElement("iframe");
      this.frame.hidden = true;
      document.documentElement.appendChild(this.frame);
      this.win = this.frame.contentWindow;
      var doc = this.win.document;
      this.win.postMessage = function (data) {
        setTimeout(function () { worker.deliver(data); }, 0);
      };
      this.win.importScripts = function () {
        return Array.prototype.reduce.call(arguments, function (done, src) {
          return done.then(function () { return loadScript(doc, new URL(src, base).href); });
        }, Promise.resolve());
      };
      this.loading = loadScript(doc, base.href).then(function () {
        worker.loading = null;
        worker.queued.splice(0).forEach(function (data) { worker.postMessage(data); });
      }, function (error) {
        var event = new ErrorEvent("error", { message: error.message });
        worker.dispatchEvent(event);
        if (typeof worker.onerror === "function") worker.onerror(event);
      });
    }

    deliver(data) {
      var event = new MessageEvent("message", { data: data });
      this.dispatchEvent(event);
      if (typeof this.onmessage === "function") this.onmessage(event);
    }

    postMessage(data) {
      if (this.loading) {
        this.queued.push(data);
        return;
      }
      var win = this.win;
      setTimeout(function () { win.dispatchEvent(new win.MessageEvent("message", { data: data })); }, 0);
    }

    terminate() {
      this.frame.remove();
    }
  }

  window.Worker = FrameWorker;
})();
