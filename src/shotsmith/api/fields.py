"""The spec fields the native jobs contract (`POST /api/v1/jobs`) takes under the spec's own
names, besides `image` and `size`. One tuple, read by the server's wire model (api/native.py)
and by the CLI's warm path (client.py), which sends a locally validated spec's values through
it; this module imports nothing, so the CLI stays light. Adding a spec field's name here is all
it takes to expose it (the spec declares its type, limits and help).
"""

# How answers name a source clip the client sent inline (the warm CLI puts its file's name back).
UPLOADED_CLIP = "the uploaded clip"

JOB_FIELDS = ("prompt", "negative_prompt", "model", "seed", "candidates", "steps", "guidance", "seconds", "fps",
              "frames", "interpolation", "style", "enhance", "enhanced_prompt", "lora", "lora_scale", "cache",
              "strength", "audio")
