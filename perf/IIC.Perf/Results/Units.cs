using System.Globalization;

namespace IIC.Perf.Results;

/// <summary>Numbers formatted for the tables: µs with sensible precision, rates and bandwidths with SI prefixes.</summary>
internal static class Units
{
    public static string Micros(long? ns)
    {
        if (ns is not { } value)
        {
            return "-";
        }
        var us = value / 1000.0;
        return us switch
        {
            < 10 => us.ToString("0.00", CultureInfo.InvariantCulture),
            < 100 => us.ToString("0.0", CultureInfo.InvariantCulture),
            _ => us.ToString("0", CultureInfo.InvariantCulture),
        };
    }

    public static string Rate(long? perSecond) => perSecond switch
    {
        null => "-",
        >= 1_000_000 => (perSecond.Value / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M",
        >= 1_000 => (perSecond.Value / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " k",
        _ => perSecond.Value.ToString(CultureInfo.InvariantCulture),
    };

    public static string Bandwidth(long? bytesPerSecond) => bytesPerSecond switch
    {
        null => "-",
        >= 1_000_000_000 => (bytesPerSecond.Value / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB/s",
        _ => (bytesPerSecond.Value / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB/s",
    };

    public static string Count(long? count) => count switch
    {
        null => "-",
        >= 10_000_000 => (count.Value / 1e6).ToString("0", CultureInfo.InvariantCulture) + "M",
        >= 1_000_000 => (count.Value / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (count.Value / 1e3).ToString("0", CultureInfo.InvariantCulture) + "k",
        _ => count.Value.ToString(CultureInfo.InvariantCulture),
    };

    public static string Percent(double? percent) => percent is { } p ? p.ToString(p < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " %" : "-";

    public static string Seconds(double? seconds) => seconds is { } s ? s.ToString("0.00", CultureInfo.InvariantCulture) : "-";

    public static string Ratio(double ratio) => ratio switch
    {
        double.NaN or double.PositiveInfinity => "-",
        < 10 => ratio.ToString("0.00", CultureInfo.InvariantCulture) + "x",
        < 100 => ratio.ToString("0.0", CultureInfo.InvariantCulture) + "x",
        _ => ratio.ToString("0", CultureInfo.InvariantCulture) + "x",
    };
}
