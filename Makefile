# cloudtally: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VALIDATOR_VENV := .venv-validator
VALIDATOR_STAMP := $(VALIDATOR_VENV)/.installed
PYTHON312 ?= $(shell scripts/find-python312)
# dbt (to run the projects `cloudtally models` writes) pins packages the dev tools need newer:
# it gets a venv of its own.
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
# Hadoop's S3A connector (hadoop-aws) and the AWS SDK it needs, for the tests of Spark on a lake
# in S3 (Maven is not reachable here: the jars come from the one package on the package index
# that ships them, sagemaker_pyspark's source distribution; both are Apache-2.0).
SPARK_JARS := .spark-jars
SPARK_JARS_STAMP := $(SPARK_JARS)/.installed
# Azurite, the Azure Storage emulator the tests of a lake in Azure run against (a Node.js
# program from the npm registry, at the version scripts/azurite/package-lock.json pins).
AZURITE := .azurite
AZURITE_STAMP := $(AZURITE)/.installed

.PHONY: install demo test lint bench validator dbt spark-jars azurite docs clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m cloudtally.demo

# The FOCUS validator needs Python >= 3.12: it gets a venv of its own.
$(VALIDATOR_STAMP): validator-requirements.lock
	@if [ -z "$(PYTHON312)" ]; then echo "No Python 3.12 found: the FOCUS validator tests will be skipped."; exit 0; fi; \
	$(PYTHON312) -m venv $(VALIDATOR_VENV) && \
	$(VALIDATOR_VENV)/bin/pip install --quiet --upgrade pip && \
	$(VALIDATOR_VENV)/bin/pip install --quiet -r validator-requirements.lock && \
	touch $(VALIDATOR_STAMP)

validator: $(VALIDATOR_STAMP)

$(DBT_STAMP): dbt-requirements.lock
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet -r dbt-requirements.lock
	touch $(DBT_STAMP)

dbt: $(DBT_STAMP)

$(SPARK_JARS_STAMP):
	rm -rf $(SPARK_JARS) && mkdir -p $(SPARK_JARS)/download
	$(BIN)/pip download --quiet --no-deps --no-binary :all: \
		-d $(SPARK_JARS)/download sagemaker_pyspark==1.4.5
	tar -xzf $(SPARK_JARS)/download/sagemaker_pyspark-1.4.5.tar.gz -C $(SPARK_JARS) --strip-components=3 \
		sagemaker_pyspark-1.4.5/deps/jars/hadoop-aws-3.3.1.jar \
		sagemaker_pyspark-1.4.5/deps/jars/aws-java-sdk-bundle-1.11.901.jar
	rm -rf $(SPARK_JARS)/download
	touch $(SPARK_JARS_STAMP)

spark-jars: install $(SPARK_JARS_STAMP)

$(AZURITE_STAMP): scripts/azurite/package.json scripts/azurite/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then echo "No npm found: the Azure (Azurite) tests will be skipped."; exit 0; fi; \
	rm -rf $(AZURITE) && mkdir -p $(AZURITE) && \
	cp scripts/azurite/package.json scripts/azurite/package-lock.json $(AZURITE)/ && \
	npm ci --prefix $(AZURITE) --ignore-scripts --no-audit --no-fund --loglevel=error && \
	touch $(AZURITE_STAMP)

azurite: $(AZURITE_STAMP)

test: install validator dbt spark-jars azurite
	@echo "[make test $$(date -u +%H:%M:%S)] venvs ready, running the tests"
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check cloudtally tests benchmarks
	$(BIN)/ruff format --check cloudtally tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/run_all.py

docs: install
	$(BIN)/python -m cloudtally.docgen docs

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock
	$(BIN)/uv pip compile dbt-requirements.in --python-version 3.11 --quiet -o dbt-requirements.lock
	cd scripts/azurite && npm install --package-lock-only --ignore-scripts --no-audit --no-fund

clean:
	rm -rf $(VENV) $(VALIDATOR_VENV) $(DBT_VENV) $(SPARK_JARS) $(AZURITE) .demo .pytest_cache
