"""The OpenAI Videos API contract (`/v1/videos`): router, protocol, serving."""
