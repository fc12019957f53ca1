using Microsoft.Extensions.Options;

namespace IIC.AspNetCore;

/// <summary>
/// Which configuration section each named <see cref="IicTransportOptions"/> was bound from, so one validator reports
/// every name's failures under its own section path (<c>Clients:Fast:RingCapacity = 1000: ...</c>).
/// </summary>
internal sealed class IicOptionsSectionPaths
{
    private readonly Dictionary<string, string?> _paths = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Records the section of <paramref name="name"/> (the last registration wins, as with Bind).</summary>
    public void Set(string name, string? sectionPath)
    {
        lock (_lock)
        {
            _paths[name] = sectionPath;
        }
    }

    /// <summary>The section path of <paramref name="name"/>; null when none was recorded (the validator then says <c>Iic</c>).</summary>
    public string? Get(string? name)
    {
        lock (_lock)
        {
            return _paths.GetValueOrDefault(name ?? Options.DefaultName);
        }
    }
}

/// <summary>Validates every name of <see cref="IicTransportOptions"/> with <see cref="IicTransportOptionsValidator"/>, each under its own section path.</summary>
internal sealed class IicNamedOptionsValidator(IicOptionsSectionPaths paths) : IValidateOptions<IicTransportOptions>
{
    public ValidateOptionsResult Validate(string? name, IicTransportOptions options)
        => new IicTransportOptionsValidator(paths.Get(name)).Validate(name, options);
}
