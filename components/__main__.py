from components.cli import app

app()
