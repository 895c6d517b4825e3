"""napari tests: need ``pip install cryolatent[napari]``; the rendering test needs an X
display, which pytest-xvfb starts (Qt's offscreen platform has no OpenGL)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "napari: needs the optional napari extra")
