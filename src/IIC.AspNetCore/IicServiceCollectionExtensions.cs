using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore;

/// <summary>
/// Named <see cref="IicTransportOptions"/> (the options pattern's named options): several sets side by side, e.g. one per
/// client or per hypervisor, each bound from its own configuration section, validated at start and read with
/// <c>IOptionsMonitor&lt;IicTransportOptions&gt;.Get(name)</c>. The server side (<c>UseIicTransport</c>) uses the default
/// name (<see cref="Options.DefaultName"/>).
/// <code>
/// builder.Services.AddIicTransportOptions("fast", builder.Configuration.GetSection("IicClients:fast"));
/// builder.Services.AddHttpClient("greeter").UseIicTransport("greeter", optionsName: "fast");
/// </code>
/// </summary>
public static class IicServiceCollectionExtensions
{
    /// <summary>
    /// Binds the options named <paramref name="name"/> from <paramref name="section"/>
    /// (<c>AddOptions&lt;IicTransportOptions&gt;(name).Bind(section).ValidateOnStart()</c>), folds the configuration-only
    /// keys into the channel options and validates them with <see cref="IicTransportOptionsValidator"/>. A bad value stops
    /// the host at start with an <see cref="OptionsValidationException"/> whose failures name the section path, the key,
    /// the value and what is allowed (<c>IicClients:fast:RingCapacity = 1000: ...</c>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The options name; <see cref="Options.DefaultName"/> (empty) is the unnamed options the server uses.</param>
    /// <param name="section">The configuration section (keys as <see cref="IicTransportOptions.ReadFrom"/> lists).</param>
    /// <returns>The options builder, for further <c>Configure</c> calls (applied after the section).</returns>
    public static OptionsBuilder<IicTransportOptions> AddIicTransportOptions(this IServiceCollection services, string name, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(section);
        IicWebHostBuilderExtensions.AddValidationAndFolding(services, name, (section as IConfigurationSection)?.Path);
        return services.AddOptions<IicTransportOptions>(name).Bind(section).ValidateOnStart();
    }
}
