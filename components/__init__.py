"""Alert routing as code: stack files -> validated model -> compiled payloads -> Pulumi resources.

Importing this package has no side effects (dynamic providers are unpickled from it in a fresh
interpreter by the Pulumi engine).
"""
