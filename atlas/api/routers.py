from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    """SPEC paths have no trailing slash; accept one anyway."""

    def __init__(self):
        super().__init__(trailing_slash="/?")
