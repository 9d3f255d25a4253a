"""python -m host_tools.pumpctl"""
from host_tools.pumpctl import main

main()
