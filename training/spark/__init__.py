"""The offline jobs on Apache Spark (``--engine spark``): import and cleaning, rule
mining with FPGrowth, ALS with Spark MLlib, written as the same bundle as the local
engine. Needs the ``spark`` extra (pyspark) and Java 17."""

from training.spark.cleaning import SPARK, SparkEvents, clean_events, load_events
from training.spark.reader import read_events
from training.spark.session import spark_session

__all__ = ["SPARK", "SparkEvents", "clean_events", "load_events", "read_events", "spark_session"]
