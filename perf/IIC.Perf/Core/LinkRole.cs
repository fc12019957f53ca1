namespace IIC.Perf.Core;

/// <summary>Which end of a link a process is.</summary>
internal enum LinkRole
{
    /// <summary>Drives the measurement: sends, times, verifies echoes. Runs in the parent unless the transport needs it elsewhere.</summary>
    Client,

    /// <summary>Echoes (ping-pong) or counts (throughput). Always a child process.</summary>
    Server,
}
