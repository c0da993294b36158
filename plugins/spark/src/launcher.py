# edp's spark engine runs this in place of a Python app's main file in REST
# submissions (org.apache.spark.deploy.PythonRunner starts it as the driver's
# Python process): it runs the main file as __main__ with the app's arguments,
# and ends the process as soon as the driver JVM that started it is gone. A
# killed driver would otherwise leave its Python child running as an orphan
# for as long as it does not call into the JVM (a time.sleep(), say).
import os
import runpy
import sys
import threading
import time


def _exit_with_parent(parent):
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(143)


threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="edp-parent-watch", daemon=True).start()
_main = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(_main))
runpy.run_path(_main, run_name="__main__")
