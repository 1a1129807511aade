import Mustache

/// The pages a person sees (sign-in, consent, error), rendered from Mustache templates compiled
/// into the binary: one file to ship, no third-party assets, every value HTML-escaped.
struct PageTemplates: Sendable {
    let library: MustacheLibrary

    init() {
        // The templates are constants; a syntax error in them is a programming error.
        library = MustacheLibrary(
            templates: Self.sources.mapValues { source in
                do { return try MustacheTemplate(string: source) } catch { fatalError("page template: \(error)") }
            })
    }

    func render(_ page: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: page) ?? ""
    }

    static let sources: [String: String] = [
        "head": head, "foot": foot, "sign-in": signIn, "consent": consent, "error": error, "signed-out": signedOut,
        "device": device, "device-approve": deviceApprove, "device-done": deviceDone, "scope-list": scopeList,
    ]

    /// The requested scopes, each with its description: the consent and device approval pages.
    private static let scopeList = """
        {{#hasScopes}}
        <ul>
        {{#scopes}}<li><strong>{{name}}</strong>{{#description}}: {{description}}{{/description}}</li>
        {{/scopes}}
        </ul>
        {{/hasScopes}}
        """

    private static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>{{title}} · Authsec</title>
        <style>
        body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1d21}
        main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
        h1{font-size:1.4rem;margin-top:0}
        label{display:block;margin-top:1rem;font-weight:600}
        input{width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem;border:1px solid #8a8f98;border-radius:4px;font:inherit}
        button{margin-top:1.4rem;padding:.6rem 1.2rem;border:0;border-radius:4px;font:inherit;background:#1d4ed8;color:#fff;cursor:pointer}
        button.secondary{background:#e5e7eb;color:#1b1d21;margin-left:.5rem}
        :focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
        .error{color:#b91c1c;font-weight:600}
        .client{display:flex;gap:1rem;align-items:center}
        .muted{color:#5b6170;font-size:.9rem}
        </style>
        </head>
        <body>
        <main>
        """

    private static let foot = """
        </main>
        </body>
        </html>
        """

    private static let signIn = """
        {{> head}}
        <h1>Sign in</h1>
        {{#clientName}}<p>to continue to <strong>{{clientName}}</strong></p>{{/clientName}}
        {{#error}}<p class="error" role="alert" id="sign-in-error">{{error}}</p>{{/error}}
        <form method="post" action="/authorize/sign-in">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#flow}}<input type="hidden" name="flow" value="{{flow}}">{{/flow}}
        {{#userCode}}<input type="hidden" name="user_code" value="{{userCode}}">{{/userCode}}
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required{{^focusPassword}} autofocus{{/focusPassword}} value="{{username}}"{{#error}} aria-describedby="sign-in-error"{{/error}}>
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required{{#focusPassword}} autofocus{{/focusPassword}}>
        <button type="submit">Sign in</button>
        </form>
        {{> foot}}
        """

    private static let consent = """
        {{> head}}
        <h1>Allow access?</h1>
        <div class="client">
        {{#logo}}<img src="{{logo}}" alt="" width="48" height="48">{{/logo}}
        <p><strong>{{clientName}}</strong>{{#website}} (<a href="{{website}}" rel="noopener noreferrer" target="_blank">{{websiteHost}}</a>){{/website}} wants to:</p>
        </div>
        {{> scope-list}}
        {{^hasScopes}}<p>know who you are.</p>{{/hasScopes}}
        {{#documentHost}}<p class="muted">This application describes itself at <strong>{{documentHost}}</strong>; no administrator registered it.</p>{{/documentHost}}
        <p class="muted">Signed in as <strong>{{username}}</strong>. Allowing sends you back to <strong>{{redirectHost}}</strong>.</p>
        <form method="post" action="/authorize/consent">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="flow" value="{{flow}}">
        <button type="submit" name="decision" value="allow" autofocus>Allow</button>
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
        </form>
        {{> foot}}
        """

    private static let error = """
        {{> head}}
        <h1>{{title}}</h1>
        <p role="alert">{{message}}</p>
        {{#code}}<p class="muted">Error: <code>{{code}}</code></p>{{/code}}
        {{> foot}}
        """

    private static let device = """
        {{> head}}
        <h1>Connect a device</h1>
        <p>Enter the code shown on your device.</p>
        {{#error}}<p class="error" role="alert" id="device-error">{{error}}</p>{{/error}}
        <form method="get" action="/device">
        <label for="user_code">Code</label>
        <input id="user_code" name="user_code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required autofocus placeholder="XXXX-XXXX" value="{{userCode}}"{{#error}} aria-describedby="device-error"{{/error}}>
        <button type="submit">Continue</button>
        </form>
        {{> foot}}
        """

    private static let deviceApprove = """
        {{> head}}
        <h1>Allow this device?</h1>
        <p>A device showing the code <strong>{{userCode}}</strong> asks to act as you in <strong>{{clientName}}</strong>.
        Only allow it if you started this on a device you own.</p>
        {{> scope-list}}
        <p class="muted">Signed in as <strong>{{username}}</strong>.</p>
        <form method="post" action="/device/approve">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="user_code" value="{{userCode}}">
        <button type="submit" name="decision" value="allow" autofocus>Allow</button>
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
        </form>
        {{> foot}}
        """

    private static let deviceDone = """
        {{> head}}
        <h1>{{title}}</h1>
        <p role="status">{{message}}</p>
        {{> foot}}
        """

    private static let signedOut = """
        {{> head}}
        <h1>Signed out</h1>
        <p>You have signed out. You can close this window.</p>
        {{> foot}}
        """
}
