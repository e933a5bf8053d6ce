"""The seeds' backend MFA integration as server-rendered pages: mount `create_app(provider)`.

Primary login, enrollment choice, SMS and TOTP enrollment, code entry with resend, recovery
codes, optional enrollment and unenrollment, default method, step-up and an MFA-enforcing
page — each driven by the engine behind the provider, each showing the member's place on
the flow diagram. No JavaScript; CSRF-checked forms; server-side sessions.
"""

from ._app import create_app
from ._protocol import MfaProvider
from ._settings import WebSettings

__all__ = ["MfaProvider", "WebSettings", "create_app"]
