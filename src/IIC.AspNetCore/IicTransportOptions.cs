using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore;

/// <summary>
/// Where this process meets its peers: the hypervisor it attaches to, under which partition name, and how channels are
/// shaped. Server side (<c>UseIicTransport</c> (<see cref="IicWebHostBuilderExtensions"/>)) and client side
/// (<see cref="IicHttpHandler"/>, <see cref="IicServiceAddress"/>) read the same options; in configuration they are the
/// section <c>Iic</c> (bound by <c>UseIicTransport(section)</c> with validation at start, or <see cref="ReadFrom"/>).
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
    /// With <see cref="StartHypervisor"/>: keep this process non-dumpable while the embedded hypervisor runs (default
    /// true), so processes of the same uid cannot open its windows through /proc/PID/fd. Set false to debug or dump the
    /// host (createdump, <c>dotnet-dump collect</c>, gdb do not work while it is set; dotnet-counters and dotnet-trace do),
    /// accepting that exposure. See <c>HypervisorOptions.NonDumpable</c>.
    /// </summary>
    public bool HypervisorNonDumpable { get; set; } = true;

    /// <summary>
    /// The channel options HTTP/2 connections use unless told otherwise: 1 MiB rings and <see cref="WaitStrategy.Park"/>.
    /// Each connection's receive thread waits with this strategy. Not the transport's adaptive default: on a loaded
    /// 2-CPU machine a spinning receive thread takes CPU from the thread-pool threads doing the HTTP/2 work it waits for,
    /// and park measured as well or better there (perf/IIC.GrpcPerf <c>--wait</c>); with spare cores adaptive may win.
    /// </summary>
    public static ChannelOptions DefaultChannelOptions { get; } = ChannelOptions.Default with { WaitStrategy = WaitStrategy.Park };

    /// <summary>How channels are shaped and how their receivers wait (default <see cref="DefaultChannelOptions"/>).</summary>
    public ChannelOptions ChannelOptions { get; set; } = DefaultChannelOptions;

    /// <summary>How long a client waits for a service to be offered when it connects (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Run Kestrel's processing of received bytes inline on the connection's receive thread, the thread that took them out
    /// of the channel, instead of hopping to the thread pool (Kestrel's sockets option <c>UnsafePreferInlineScheduling</c>).
    /// Lower latency; request code that blocks then delays that connection's other reads (with HTTP/2 Kestrel runs
    /// requests on the pool anyway: inline only copies the bytes into its own pipe). When true it replaces <see cref="PipeOptions"/>'
    /// application scheduler with <see cref="PipeScheduler.Inline"/>. Default false; <see cref="IicPipeOptions.InlineHttp2Reads"/>
    /// makes only HTTP/2 connections read inline (their first bytes tell them apart).
    /// </summary>
    public bool PreferInlineScheduling { get; set; }

    /// <summary>
    /// How each connection's duplex pipe buffers and schedules, on both sides (Kestrel's connections and
    /// <see cref="IicHttpHandler"/>'s): memory pool, back-pressure thresholds, application scheduler, spin-for-reply
    /// (<see cref="IicPipeOptions.ReplySpinLimit"/>, off by default: see <see cref="ReplySpinMicroseconds"/>). Default
    /// <see cref="IicPipeOptions.Default"/> (1 MiB to read, 64 KiB to write, as Kestrel's sockets).
    /// </summary>
    public IicPipeOptions PipeOptions { get; set; } = IicPipeOptions.Default;

    /// <summary>
    /// Configuration key <c>MaxReadBufferSize</c>: received bytes a connection holds for the application before its receive
    /// thread stops taking messages (0: no limit); when set, it replaces <see cref="PipeOptions"/>' input thresholds (resume
    /// at half, as Kestrel's option of the same name). Null keeps them.
    /// </summary>
    public long? MaxReadBufferSize { get; set; }

    /// <summary>
    /// Configuration key <c>MaxWriteBufferSize</c>: unsent bytes at which a connection's flushes wait (0: no limit); when set,
    /// it replaces <see cref="PipeOptions"/>' output thresholds (resume at half). Null keeps them.
    /// </summary>
    public long? MaxWriteBufferSize { get; set; }

    /// <summary>The pipe options connections use: <see cref="PipeOptions"/> with <see cref="PreferInlineScheduling"/> applied.</summary>
    internal IicPipeOptions EffectivePipeOptions => PreferInlineScheduling ? PipeOptions with { ApplicationScheduler = PipeScheduler.Inline } : PipeOptions;

    /// <summary>The partition name to use: <see cref="PartitionName"/> or <c>aspnetcore-PID</c>.</summary>
    public string EffectivePartitionName => PartitionName ?? $"aspnetcore-{Environment.ProcessId}";

    /// <summary>
    /// Configuration key <c>RingCapacity</c>: bytes per ring direction (a power of two); when set, it replaces
    /// <see cref="ChannelOptions"/>' ring capacity. Null keeps it.
    /// </summary>
    public int? RingCapacity { get; set; }

    /// <summary>
    /// Configuration key <c>WaitStrategy</c>: <c>spin</c>, <c>spinpark[:µs]</c>, <c>park</c> or <c>adaptive</c>; when set, it
    /// replaces <see cref="ChannelOptions"/>' wait strategy. Null keeps it.
    /// </summary>
    [ConfigurationKeyName("WaitStrategy")]
    public string? WaitStrategyName { get; set; }

    /// <summary>Configuration key <c>ConnectTimeoutSeconds</c>: when set, it replaces <see cref="ConnectTimeout"/>. Null keeps it.</summary>
    public double? ConnectTimeoutSeconds { get; set; }

    /// <summary>
    /// Configuration key <c>ReplySpinMicroseconds</c>: how long at most a connection's receive thread spins for an owed
    /// reply, e.g. 500 (0: off, the default; at most 1,000,000); when set, it replaces <see cref="PipeOptions"/>'
    /// <see cref="IicPipeOptions.ReplySpinLimit"/>. Null keeps it. Off by default because on the 2-vCPU machine it was
    /// measured on, catching replies by spinning removed their kernel wake-ups but not latency (the HTTP/2 stacks keep
    /// both CPUs busy, and the spin took CPU from them); on a machine with idle cores, measure it (README, "Spin-for-reply").
    /// </summary>
    public double? ReplySpinMicroseconds { get; set; }

    /// <summary>
    /// Configuration key <c>PreTouch</c>: <c>true</c> commits each connection's whole window when it opens, so the first lap
    /// of its rings takes no page faults (<see cref="IIC.Transport.ChannelOptions.PreTouch"/>); when set, it replaces
    /// <see cref="ChannelOptions"/>' value. Null keeps it.
    /// </summary>
    public bool? PreTouch { get; set; }

    /// <summary>
    /// Reads the options from a configuration section without dependency injection (clients; a host binds the same keys
    /// with <see cref="IicWebHostBuilderExtensions.UseIicTransport(Microsoft.AspNetCore.Hosting.IWebHostBuilder, IConfiguration, Action{IicTransportOptions}?)"/>):
    /// <c>HypervisorName</c>, <c>PartitionName</c>, <c>SocketDirectory</c>, <c>StartHypervisor</c>, <c>HypervisorNonDumpable</c>,
    /// <c>RingCapacity</c>, <c>WaitStrategy</c>, <c>ConnectTimeoutSeconds</c>, <c>PreferInlineScheduling</c>, <c>MaxReadBufferSize</c>,
    /// <c>MaxWriteBufferSize</c>, <c>ReplySpinMicroseconds</c>, <c>PreTouch</c>; absent keys keep their values.
    /// The values are bound (configuration binder), then checked by <see cref="IicTransportOptionsValidator"/>.
    /// </summary>
    /// <returns>This instance.</returns>
    /// <exception cref="InvalidOperationException">A value does not convert to its key's type (the message names the key and the value).</exception>
    /// <exception cref="OptionsValidationException">A value is out of range (each failure names the key, the value and what is allowed).</exception>
    public IicTransportOptions ReadFrom(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        section.Bind(this);
        var result = new IicTransportOptionsValidator(section is IConfigurationSection s ? s.Path : null).Validate(null, this);
        if (result.Failed)
        {
            throw new OptionsValidationException(Microsoft.Extensions.Options.Options.DefaultName, typeof(IicTransportOptions), result.Failures);
        }
        ApplyConfiguredValues();
        return this;
    }

    /// <summary>Folds <see cref="RingCapacity"/>, <see cref="WaitStrategyName"/>, <see cref="PreTouch"/>, <see cref="MaxReadBufferSize"/>, <see cref="MaxWriteBufferSize"/>, <see cref="ReplySpinMicroseconds"/> and <see cref="ConnectTimeoutSeconds"/> into <see cref="ChannelOptions"/>, <see cref="PipeOptions"/> and <see cref="ConnectTimeout"/> (valid values only; the validator reports the others).</summary>
    internal void ApplyConfiguredValues()
    {
        if (RingCapacity is { } capacity && IicTransportOptionsValidator.CheckRingCapacity(capacity) is null)
        {
            ChannelOptions = ChannelOptions with { RingCapacity = capacity };
        }
        if (WaitStrategyName is { } wait && IicTransportOptionsValidator.TryParseWaitStrategy(wait, out var strategy, out _))
        {
            ChannelOptions = ChannelOptions with { WaitStrategy = strategy };
        }
        if (PreTouch is { } preTouch)
        {
            ChannelOptions = ChannelOptions with { PreTouch = preTouch };
        }
        if (MaxReadBufferSize is { } read && read >= 0)
        {
            PipeOptions = PipeOptions with { InputPauseThreshold = read, InputResumeThreshold = read / 2 };
        }
        if (MaxWriteBufferSize is { } write && write >= 0)
        {
            PipeOptions = PipeOptions with { OutputPauseThreshold = write, OutputResumeThreshold = write / 2 };
        }
        if (ReplySpinMicroseconds is { } spin && IicTransportOptionsValidator.IsReplySpinMicroseconds(spin))
        {
            PipeOptions = PipeOptions with { ReplySpinLimit = TimeSpan.FromMicroseconds(spin) };
        }
        if (ConnectTimeoutSeconds is { } seconds && double.IsFinite(seconds) && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds)
        {
            ConnectTimeout = TimeSpan.FromSeconds(seconds);
        }
    }
}
