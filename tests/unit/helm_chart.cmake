# Helm chart rendering test (helm/qwen3-tts): renders the chart offline with tests/helm/render (Go
# text/template + sprig, built by the test into the build tree), validates values against
# values.schema.json and every object against the Kubernetes API schemas (python3-kubernetes).
# Needs golang-go, golang-*-dev libraries and python3-kubernetes (scripts/apt-packages.txt); no
# network, no helm binary, no C++ target.
# Debian's interpreter: python3-kubernetes and python3-yaml are installed for /usr/bin/python3.
find_program(QWEN3TTS_HELM_TEST_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT QWEN3TTS_HELM_TEST_PYTHON)
  find_program(QWEN3TTS_HELM_TEST_PYTHON python3)
endif()
add_test(NAME helm_chart
  COMMAND ${QWEN3TTS_HELM_TEST_PYTHON} ${CMAKE_SOURCE_DIR}/tests/helm/chart_test.py
          --build-dir ${CMAKE_BINARY_DIR}/helm-chart-test)
set_tests_properties(helm_chart PROPERTIES LABELS unit TIMEOUT 600)
