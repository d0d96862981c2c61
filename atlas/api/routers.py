from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    """SPEC paths have no trailing slash; accept one anyway.

    DRF's constructor turns any truthy ``trailing_slash`` into a required "/",
    so the optional form is set after it.
    """

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
