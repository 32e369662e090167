// Sandbox stand-in for the Webex Embedded App SDK 2.x (npm
// @webex/embedded-app-sdk, the version pinned in vendor/webex-embedded-app-sdk):
// the calls the Contact Manager makes, as 2.x defines them:
// `new window.webex.Application()`, `await app.onReady()`,
// `app.application.states.user` = {id, orgId, email, displayName, token} and
// `app.isPrivateDataAvailable`. Which agent is "signed in to Webex" comes
// from the page's `?sandboxUser=` (default Agent A).
(function () {
  var script = document.currentScript;
  var base = script.src.replace(/\/sdk\.js(\?.*)?$/, "");
  function Application() {
    this.application = { states: { user: null, isPrivateDataAvailable: null } };
    this.isPrivateDataAvailable = null;
  }
  Application.prototype.onReady = function () {
    var self = this;
    var email = new URLSearchParams(window.location.search).get("sandboxUser") || "agent-a@example.com";
    // An agent the sandbox does not know: ready, but no user shared (2.x's
    // initial `states.user` is null), like a host that shares no identity.
    return fetch(base + "/user?email=" + encodeURIComponent(email))
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (user) {
        self.application.states.user = user;
        self.application.states.isPrivateDataAvailable = user !== null;
        self.isPrivateDataAvailable = user !== null;
      });
  };
  Application.prototype.listen = function () { return Promise.resolve(); };
  Application.prototype.on = function () {};
  window.webex = window.webex || {};
  window.webex.Application = Application;
})();
