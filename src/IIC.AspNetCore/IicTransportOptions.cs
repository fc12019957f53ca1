using IIC.Hardware;
using IIC.Transport;
using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore;

/// <summary>
/// Where this process meets its peers: the hypervisor it attaches to, under which partition name, and how channels are
/// shaped. Server side (<see cref="IicWebHostBuilderExtensions.UseIicTransport"/>) and client side
/// (<see cref="IicHttpHandler"/>, <see cref="IicServiceAddress"/>) read the same options; in configuration they are the
/// section <c>Iic</c> (<see cref="ReadFrom"/>).
/// </summary>
public sealed class IicTransportOptions
{
    /// <summary>The hypervisor's name (default <c>iicfast</c>, the name <c>iic hypervisor</c> uses unless told otherwise).</summary>
    public string HypervisorName { get; set; } = "iicfast";

    /// <summary>This process's partition name; null means <c>aspnetcore-PID</c>.</summary>
    public string? PartitionName { get; set; }

    /// <summary>The directory of the hypervisor's socket; null means the default (<c>$XDG_RUNTIME_DIR/iic</c>, else <c>/tmp/iic-UID</c>).</summary>
    public string? SocketDirectory { get; set; }

    /// <summary>
    /// Start an embedded hypervisor named <see cref="HypervisorName"/> in this process (server side) instead of
    /// attaching to a running one (<c>iic hypervisor</c>). Default false. Other processes attach to it while this one runs.
    /// </summary>
    public bool StartHypervisor { get; set; }

    /// <summary>
    /// The channel options HTTP/2 connections use unless told otherwise: 1 MiB rings and <see cref="WaitStrategy.Park"/>.
    /// Not the transport's adaptive default: Kestrel and SocketsHttpHandler read with ReadAsync on thread-pool threads,
    /// and a receive that spins before parking holds a pool thread the HTTP/2 stack needs for the very work it waits for
    /// (perf/IIC.GrpcPerf, 2 CPUs: unary p50 2.4 ms adaptive, 0.18 ms park).
    /// </summary>
    public static ChannelOptions DefaultChannelOptions { get; } = ChannelOptions.Default with { WaitStrategy = WaitStrategy.Park };

    /// <summary>How channels are shaped and how their receivers wait (default <see cref="DefaultChannelOptions"/>).</summary>
    public ChannelOptions ChannelOptions { get; set; } = DefaultChannelOptions;

    /// <summary>How long a client waits for a service to be offered when it connects (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Run Kestrel's processing of received bytes inline on the thread that took them out of the channel, instead of
    /// hopping to the thread pool (Kestrel's sockets option of the same spirit). Lower latency; request code that
    /// blocks then delays that connection's other reads. Default false.
    /// </summary>
    public bool PreferInlineScheduling { get; set; }

    /// <summary>The partition name to use: <see cref="PartitionName"/> or <c>aspnetcore-PID</c>.</summary>
    public string EffectivePartitionName => PartitionName ?? $"aspnetcore-{Environment.ProcessId}";

    /// <summary>
    /// Reads the options from a configuration section (keys <c>HypervisorName</c>, <c>PartitionName</c>,
    /// <c>SocketDirectory</c>, <c>StartHypervisor</c>, <c>RingCapacity</c>, <c>WaitStrategy</c> (spin, spinpark:µs, park, adaptive), <c>ConnectTimeoutSeconds</c>,
    /// <c>PreferInlineScheduling</c>); absent keys keep their values.
    /// </summary>
    /// <returns>This instance.</returns>
    /// <exception cref="FormatException">A value does not parse.</exception>
    public IicTransportOptions ReadFrom(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        HypervisorName = section[nameof(HypervisorName)] ?? HypervisorName;
        PartitionName = section[nameof(PartitionName)] ?? PartitionName;
        SocketDirectory = section[nameof(SocketDirectory)] ?? SocketDirectory;
        if (section[nameof(StartHypervisor)] is { } start)
        {
            StartHypervisor = bool.Parse(start);
        }
        if (section[nameof(PreferInlineScheduling)] is { } inline)
        {
            PreferInlineScheduling = bool.Parse(inline);
        }
        if (section["RingCapacity"] is { } capacity)
        {
            ChannelOptions = ChannelOptions with { RingCapacity = int.Parse(capacity, System.Globalization.CultureInfo.InvariantCulture) };
        }
        if (section["WaitStrategy"] is { } wait)
        {
            ChannelOptions = ChannelOptions with { WaitStrategy = WaitStrategy.Parse(wait) };
        }
        if (section["ConnectTimeoutSeconds"] is { } timeout)
        {
            ConnectTimeout = TimeSpan.FromSeconds(double.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture));
        }
        return this;
    }
}
