"""The Zhipu BigModel contract (`/api/paas/v4`): router, protocol, serving."""
