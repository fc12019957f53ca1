using System.Globalization;
using IIC.Hardware;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore;

/// <summary>
/// Checks <see cref="IicTransportOptions"/> before anything attaches: each failure names the configuration key, the
/// bad value and what is allowed (e.g. <c>Iic:RingCapacity = 1000: a ring capacity must be a power of two ...</c>).
/// Registered with <c>ValidateOnStart</c> by <see cref="IicWebHostBuilderExtensions.UseIicTransport(Microsoft.AspNetCore.Hosting.IWebHostBuilder, Microsoft.Extensions.Configuration.IConfiguration, Action{IicTransportOptions}?)"/>,
/// so a bad value stops the host at start with that message instead of failing the first connection.
/// </summary>
/// <param name="sectionPath">The configuration section the options come from (for the messages); null means <c>Iic</c>.</param>
public sealed class IicTransportOptionsValidator(string? sectionPath = null) : IValidateOptions<IicTransportOptions>
{
    private readonly string _prefix = (sectionPath ?? "Iic") + ":";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, IicTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        CheckName("HypervisorName", options.HypervisorName, required: true, failures, hypervisor: true);
        CheckName("PartitionName", options.PartitionName, required: false, failures);
        if (options.SocketDirectory is { } directory && (directory.Length == 0 || !Path.IsPathFullyQualified(directory)))
        {
            failures.Add($"{_prefix}SocketDirectory = '{directory}': use an absolute directory path, or leave it out for the default ($XDG_RUNTIME_DIR/iic, else /tmp/iic-UID).");
        }
        if (options.RingCapacity is { } capacity && CheckRingCapacity(capacity) is { } problem)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{_prefix}RingCapacity = {capacity}: {problem}"));
        }
        if (options.WaitStrategyName is { } wait && !TryParseWaitStrategy(wait, out _, out var error))
        {
            failures.Add($"{_prefix}WaitStrategy = '{wait}': {error}");
        }
        if (options.ConnectTimeoutSeconds is { } seconds && !(double.IsFinite(seconds) && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{_prefix}ConnectTimeoutSeconds = {seconds}: use a positive number of seconds, e.g. 5."));
        }
        if (options.ReplySpinMicroseconds is { } spin && !IsReplySpinMicroseconds(spin))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{_prefix}ReplySpinMicroseconds = {spin}: use 0 (off) or a number of microseconds up to 1000000, e.g. 500."));
        }
        CheckBufferSize("MaxReadBufferSize", options.MaxReadBufferSize, failures);
        CheckBufferSize("MaxWriteBufferSize", options.MaxWriteBufferSize, failures);
        if (options.PipeOptions is null)
        {
            failures.Add($"{_prefix}PipeOptions is null: leave it at IicPipeOptions.Default or set an IicPipeOptions.");
        }
        else
        {
            try
            {
                options.PipeOptions.Validate();
            }
            catch (ArgumentException e)
            {
                failures.Add($"{_prefix}PipeOptions: {e.Message}");
            }
        }
        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{_prefix}ConnectTimeout = {options.ConnectTimeout}: use a positive time span, e.g. 00:00:05."));
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Null when <paramref name="capacity"/> is a valid ring capacity, else what is wrong and what to use.</summary>
    internal static string? CheckRingCapacity(int capacity)
    {
        try
        {
            DescriptorRing.ValidateCapacity(capacity);
            return null;
        }
        catch (ArgumentOutOfRangeException e)
        {
            return e.Message.Split(" (Parameter", 2)[0]; // the sentence, without the parameter suffix
        }
    }

    /// <summary>Whether <paramref name="microseconds"/> is a valid <c>ReplySpinMicroseconds</c> (0 to 1 s, as <see cref="IIC.Transport.IicPipeOptions.ReplySpinLimit"/>).</summary>
    internal static bool IsReplySpinMicroseconds(double microseconds) => double.IsFinite(microseconds) && microseconds is >= 0 and <= 1_000_000;

    /// <summary>Parses a wait strategy (spin, spinpark[:µs], park, adaptive); on failure says what is allowed.</summary>
    internal static bool TryParseWaitStrategy(string text, out WaitStrategy strategy, out string? error)
    {
        try
        {
            strategy = WaitStrategy.Parse(text);
            error = null;
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            strategy = WaitStrategy.Park;
            error = e is FormatException { Message: var message } && message.StartsWith("Unknown", StringComparison.Ordinal)
                ? message
                : "use spin, spinpark[:microseconds], park or adaptive (" + e.Message + ")";
            return false;
        }
    }

    private void CheckBufferSize(string key, long? value, List<string> failures)
    {
        if (value is < 0)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{_prefix}{key} = {value}: use 0 (no limit) or a positive number of bytes, e.g. 1048576."));
        }
    }

    private void CheckName(string key, string? value, bool required, List<string> failures, bool hypervisor = false)
    {
        if (value is null)
        {
            if (required)
            {
                failures.Add($"{_prefix}{key} is missing: name the hypervisor (e.g. iicfast).");
            }
            return;
        }
        // A hypervisor's name becomes a socket file name, so it has the stricter rule (no '/').
        if (hypervisor ? !NameRules.IsHypervisorName(value) : !NameRules.IsName(value))
        {
            failures.Add($"{_prefix}{key} = '{value}': {(hypervisor ? NameRules.HypervisorNameRule : NameRules.NameRule)}.");
        }
    }
}
